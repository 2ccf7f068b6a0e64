//! The categorizer actor on the in-memory category store: rules first, then the learned
//! model, abstaining when unsure; a user's locked choice is never overwritten.

use actix::{Actor, Addr};
use actors::TraceId;
use actors::finance::categorize::{Condition, Rule, RuleActions, Tier};
use actors::finance::categorizer::{
    BatchResult, Candidate, CategorizeBatch, CategorizerActor, CategorizerConfig, Example,
    Selection,
};
use actors::testkit::{MemoryCategoryStore, StoredTransaction, eventually};
use rust_decimal::{Decimal, dec};
use std::sync::Arc;
use std::time::Duration;

fn tx(id: &str, description: &str, amount: Decimal) -> StoredTransaction {
    let mut t = StoredTransaction::new(
        Candidate {
            id: id.to_owned(),
            account_id: "acc-1".to_owned(),
            description: description.to_owned(),
            counterparty: None,
            amount,
            date: "2026-01-15".to_owned(),
        },
        "2026-01-15",
    );
    t.import_id = Some("imp-1".to_owned());
    t
}

fn coffee_rule() -> Rule {
    Rule {
        id: "r-1".to_owned(),
        name: "coffee".to_owned(),
        position: 1,
        enabled: true,
        match_all: true,
        conditions: vec![Condition::DescriptionContains {
            value: "coffee".to_owned(),
        }],
        actions: RuleActions {
            set_category: Some("cafe".to_owned()),
            ..RuleActions::default()
        },
        stop_processing: false,
    }
}

/// Sends one batch of `selection`, waiting out the actor's loading of rules and model.
async fn batch(
    actor: &Addr<CategorizerActor>,
    selection: Selection,
    after: Option<String>,
) -> BatchResult {
    eventually(Duration::from_secs(5), "a categorized batch", || async {
        actor
            .send(CategorizeBatch {
                selection: selection.clone(),
                after: after.clone(),
                trace_id: TraceId::new("t-cat"),
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    })
    .await
}

#[actix_rt::test]
async fn rules_decide_first_unsure_lines_stay_open_and_locked_ones_untouched() {
    let store = Arc::new(MemoryCategoryStore::new());
    store.set_rules(vec![coffee_rule()]);
    store.add_transaction(tx("t-1", "COFFEE CORNER 12", dec!(-3.20)));
    store.add_transaction(tx("t-2", "Something else", dec!(-40)));
    store.add_transaction(tx("t-3", "coffee beans online", dec!(-25)));
    store.user_sets("t-3", "groceries");
    let actor =
        CategorizerActor::new(Arc::clone(&store) as _, CategorizerConfig::default()).start();

    let result = batch(&actor, Selection::ImportBatch("imp-1".into()), None).await;

    assert_eq!(
        (
            result.seen,
            result.by_rule,
            result.by_model,
            result.abstained
        ),
        (2, 1, 0, 1),
        "the locked t-3 is no candidate"
    );
    assert_eq!(result.next, None);
    let t1 = store.transaction("t-1").expect("t-1");
    assert_eq!(
        (t1.category_id.as_deref(), t1.tier),
        (Some("cafe"), Some(Tier::Rule))
    );
    let applied = store.applied();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].rule_id.as_deref(), Some("r-1"));
    assert_eq!(store.transaction("t-2").and_then(|t| t.category_id), None);
    let t3 = store.transaction("t-3").expect("t-3");
    assert_eq!(
        (t3.category_id.as_deref(), t3.tier),
        (Some("groceries"), None)
    );
}

#[actix_rt::test]
async fn the_model_trained_from_the_users_history_categorizes_what_no_rule_covers() {
    let store = Arc::new(MemoryCategoryStore::new());
    for i in 0..12 {
        store.add_example(Example {
            description: format!("FRESHMART SUPERMARKET {i}"),
            counterparty: None,
            amount: dec!(-50),
            category_id: "groceries".to_owned(),
        });
        store.add_example(Example {
            description: format!("CITY PARKING GARAGE {i}"),
            counterparty: None,
            amount: dec!(-4),
            category_id: "transport".to_owned(),
        });
    }
    store.add_transaction(tx("t-1", "FRESHMART SUPERMARKET 99", dec!(-48)));
    let config = CategorizerConfig {
        min_examples: 10,
        ..CategorizerConfig::default()
    };
    let actor = CategorizerActor::new(Arc::clone(&store) as _, config).start();

    let result = batch(&actor, Selection::Ids(vec!["t-1".into()]), None).await;

    assert_eq!((result.by_rule, result.by_model), (0, 1));
    let t1 = store.transaction("t-1").expect("t-1");
    assert_eq!(
        (t1.category_id.as_deref(), t1.tier),
        (Some("groceries"), Some(Tier::Model))
    );
}

#[actix_rt::test]
async fn a_selection_is_walked_in_batches() {
    let store = Arc::new(MemoryCategoryStore::new());
    store.set_rules(vec![coffee_rule()]);
    for id in ["t-1", "t-2", "t-3"] {
        store.add_transaction(tx(id, "coffee", dec!(-2)));
    }
    let config = CategorizerConfig {
        batch: 2,
        ..CategorizerConfig::default()
    };
    let actor = CategorizerActor::new(Arc::clone(&store) as _, config).start();
    let all = || Selection::DateRange {
        from: "2026-01-01".into(),
        to: "2026-01-31".into(),
        account_id: Some("acc-1".into()),
    };

    let first = batch(&actor, all(), None).await;
    assert_eq!((first.seen, first.next.as_deref()), (2, Some("t-2")));
    let second = batch(&actor, all(), first.next).await;
    assert_eq!((second.seen, second.next), (1, None));
    assert_eq!(store.applied().len(), 3);
}
