//! Personal finance on the database: accounts, categories, transactions, imports (the one
//! ingest path shared with bank sync), rules, CSV profiles, reports, and the SQL ports of the
//! categorizer and bank-sync actors.
//!
//! Layout:
//! - `money.rs`: decimal ↔ `*_e4` BIGINT.
//! - `accounts.rs`, `categories.rs`, `transactions.rs`, `rules.rs`, `profiles.rs`, `imports.rs`: tables.
//! - `ingest.rs`: dedupe keys, month locks, pending → booked, all-or-nothing writes.
//! - `category_store.rs`, `sync_ledger.rs`: ports for `CategorizerActor` and `BankSyncActor`.
//! - `jobs.rs`: `import`, `auto_categorize`, `sync_bank` job handlers.
//! - `reports.rs`: spending, cash flow, balance over time, top counterparties.
//! - `spending_totals.rs`: spending per category over a range, named (charts, chat).

pub mod accounts;
pub mod categories;
pub mod category_store;
pub mod imports;
pub mod ingest;
pub mod jobs;
pub mod money;
pub mod profiles;
pub mod reports;
pub mod rules;
pub mod spending_totals;
pub mod sync_ledger;
pub mod transactions;

use crate::crypto::Cipher;
use crate::db::DbHandle;
use actors::finance::bank_sync::BankSyncActor;
use actors::finance::categorizer::{CategorizerActor, CategorizerConfig};
use actors::supervise::{ActorRef, Supervisor};
use std::sync::{Arc, OnceLock};

/// What the API and the job handlers need of the finance actors.
#[derive(Clone)]
pub struct Finance {
    pub categorizer: ActorRef<CategorizerActor>,
    pub bank_sync: ActorRef<BankSyncActor>,
    pub jobs: jobs::FinanceJobs,
}

pub fn start(
    supervisor: &mut Supervisor,
    settings: &crate::config::FinanceSettings,
    db: &DbHandle,
    cipher: Arc<Cipher>,
    queue: Arc<OnceLock<crate::jobs::JobQueue>>,
    llm: Option<Arc<dyn actors::finance::categorize::LlmCategorizer>>,
) -> Finance {
    let store = Arc::new(category_store::SqlCategoryStore(db.clone()));
    let config = CategorizerConfig {
        threshold: settings.model_threshold,
        min_examples: settings.model_min_examples,
        ..CategorizerConfig::default()
    };
    let categorizer = supervisor.spawn("categorizer", move |_| {
        let actor = CategorizerActor::new(
            Arc::clone(&store) as Arc<dyn actors::finance::categorizer::CategoryStore>,
            config,
        );
        match &llm {
            Some(l) => actor.with_llm(Arc::clone(l)),
            None => actor,
        }
    });
    let ledger = Arc::new(sync_ledger::SqlSyncLedger {
        db: db.clone(),
        cipher,
    });
    let bank_sync = supervisor.spawn("bank-sync", move |_| {
        BankSyncActor::new(
            Arc::clone(&ledger) as Arc<dyn actors::finance::bank_sync::SyncLedger>,
            Arc::new(|| chrono::Utc::now().date_naive()),
        )
    });
    let jobs = jobs::FinanceJobs {
        db: db.clone(),
        queue,
        categorizer: categorizer.clone(),
        bank_sync: bank_sync.clone(),
    };
    Finance {
        categorizer,
        bank_sync,
        jobs,
    }
}
