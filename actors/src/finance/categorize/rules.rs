//! Tier 1: user rules. Ordered by position, every matching rule applies its actions (a later
//! match overrides an earlier value), and a matching rule with `stop_processing` ends the run.
//!
//! Rules are compiled once into a [`RuleSet`] (regexes built up front, `contains` values
//! lowercased) because they run against every imported line.

use regex::{Regex, RegexBuilder};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Compiled-program cap for user regexes: refuses pathological patterns (huge counted
/// repetitions and the like) at save time rather than letting them eat memory on every import.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Debit,
    Credit,
}

impl Direction {
    /// Negative amounts are money out. Zero counts as a credit: it is not money out, and
    /// every line then has exactly one direction.
    pub fn of(amount: Decimal) -> Self {
        if amount.is_sign_negative() && !amount.is_zero() {
            Self::Debit
        } else {
            Self::Credit
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    DescriptionContains {
        value: String,
    },
    DescriptionRegex {
        pattern: String,
    },
    CounterpartyContains {
        value: String,
    },
    CounterpartyRegex {
        pattern: String,
    },
    /// On the absolute amount, both ends inclusive.
    AmountRange {
        min: Option<Decimal>,
        max: Option<Decimal>,
    },
    Account {
        account_id: String,
    },
    Direction {
        direction: Direction,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleActions {
    /// A category id.
    #[serde(default)]
    pub set_category: Option<String>,
    #[serde(default)]
    pub set_counterparty: Option<String>,
    #[serde(default)]
    pub set_notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub position: i64,
    pub enabled: bool,
    /// AND (true) or OR (false) over `conditions`.
    pub match_all: bool,
    pub conditions: Vec<Condition>,
    pub actions: RuleActions,
    pub stop_processing: bool,
}

/// What the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct TxView<'a> {
    pub account_id: &'a str,
    pub description: &'a str,
    pub counterparty: Option<&'a str>,
    pub amount: Decimal,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleOutcome {
    /// (category id, id of the rule that set it).
    pub category: Option<(String, String)>,
    pub counterparty: Option<String>,
    pub notes: Option<String>,
    /// Ids of every matching rule, in evaluation order.
    pub matched: Vec<String>,
}

#[derive(Debug, Clone)]
enum Compiled {
    DescriptionContains(String),
    DescriptionRegex(Regex),
    CounterpartyContains(String),
    CounterpartyRegex(Regex),
    AmountRange(Option<Decimal>, Option<Decimal>),
    Account(String),
    Direction(Direction),
}

#[derive(Debug, Clone)]
struct CompiledRule {
    rule: Rule,
    conditions: Vec<Compiled>,
}

/// The tx with its texts lowercased once, not once per condition.
struct Haystack<'a> {
    tx: &'a TxView<'a>,
    description: String,
    counterparty: Option<String>,
}

impl<'a> Haystack<'a> {
    fn new(tx: &'a TxView<'a>) -> Self {
        Self {
            tx,
            description: tx.description.to_lowercase(),
            counterparty: tx.counterparty.map(str::to_lowercase),
        }
    }
}

fn build_regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

fn compile_condition(c: &Condition) -> Result<Compiled, String> {
    Ok(match c {
        Condition::DescriptionContains { value } => {
            Compiled::DescriptionContains(value.to_lowercase())
        }
        Condition::DescriptionRegex { pattern } => {
            Compiled::DescriptionRegex(build_regex(pattern)?)
        }
        Condition::CounterpartyContains { value } => {
            Compiled::CounterpartyContains(value.to_lowercase())
        }
        Condition::CounterpartyRegex { pattern } => {
            Compiled::CounterpartyRegex(build_regex(pattern)?)
        }
        Condition::AmountRange { min, max } => Compiled::AmountRange(*min, *max),
        Condition::Account { account_id } => Compiled::Account(account_id.clone()),
        Condition::Direction { direction } => Compiled::Direction(*direction),
    })
}

fn compile(rule: Rule) -> Option<CompiledRule> {
    let conditions = rule
        .conditions
        .iter()
        .map(compile_condition)
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(CompiledRule { rule, conditions })
}

impl Compiled {
    fn matches(&self, h: &Haystack<'_>) -> bool {
        match self {
            Self::DescriptionContains(v) => h.description.contains(v.as_str()),
            Self::DescriptionRegex(re) => re.is_match(h.tx.description),
            Self::CounterpartyContains(v) => h
                .counterparty
                .as_deref()
                .is_some_and(|cp| cp.contains(v.as_str())),
            Self::CounterpartyRegex(re) => h.tx.counterparty.is_some_and(|cp| re.is_match(cp)),
            Self::AmountRange(min, max) => {
                let abs = h.tx.amount.abs();
                min.is_none_or(|m| abs >= m) && max.is_none_or(|m| abs <= m)
            }
            Self::Account(id) => h.tx.account_id == id.as_str(),
            Self::Direction(d) => Direction::of(h.tx.amount) == *d,
        }
    }
}

impl CompiledRule {
    fn matches(&self, h: &Haystack<'_>) -> bool {
        // No conditions never matches: an empty rule must not silently categorise everything.
        if self.conditions.is_empty() {
            return false;
        }
        if self.rule.match_all {
            self.conditions.iter().all(|c| c.matches(h))
        } else {
            self.conditions.iter().any(|c| c.matches(h))
        }
    }
}

/// Precompiled rules (regexes compiled once, case-insensitive; `contains` is case-insensitive
/// too), enabled ones only, in evaluation order.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
}

impl RuleSet {
    /// Errors as (field path e.g. `conditions[1].pattern`, message) for one rule — used to
    /// validate a rule before saving. Empty when the rule is valid.
    pub fn check(rule: &Rule) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let mut err = |path: String, msg: &str| errors.push((path, msg.to_string()));
        if rule.conditions.is_empty() {
            err("conditions".into(), "at least one condition is required");
        }
        for (i, c) in rule.conditions.iter().enumerate() {
            let at = |field: &str| format!("conditions[{i}].{field}");
            match c {
                Condition::DescriptionContains { value }
                | Condition::CounterpartyContains { value } => {
                    if value.trim().is_empty() {
                        err(at("value"), "must not be empty");
                    }
                }
                Condition::DescriptionRegex { pattern }
                | Condition::CounterpartyRegex { pattern } => {
                    if pattern.is_empty() {
                        err(at("pattern"), "must not be empty");
                    } else if let Err(e) = build_regex(pattern) {
                        err(at("pattern"), &format!("invalid regex: {e}"));
                    }
                }
                Condition::AmountRange { min, max } => {
                    if min.is_none() && max.is_none() {
                        err(at("min"), "set min, max or both");
                    }
                    if min.is_some_and(|m| m.is_sign_negative() && !m.is_zero()) {
                        err(at("min"), "must not be negative (compared with |amount|)");
                    }
                    if max.is_some_and(|m| m.is_sign_negative() && !m.is_zero()) {
                        err(at("max"), "must not be negative (compared with |amount|)");
                    }
                    if let (Some(lo), Some(hi)) = (min, max)
                        && lo > hi
                    {
                        err(at("max"), "must not be less than min");
                    }
                }
                Condition::Account { account_id } => {
                    if account_id.trim().is_empty() {
                        err(at("account_id"), "must not be empty");
                    }
                }
                Condition::Direction { .. } => {}
            }
        }
        let a = &rule.actions;
        for (field, value) in [
            ("set_category", &a.set_category),
            ("set_counterparty", &a.set_counterparty),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                err(format!("actions.{field}"), "must not be empty");
            }
        }
        // A rule that only stops processing is meaningful (it shields lines from later rules);
        // one that does nothing at all is a mistake.
        let no_action =
            a.set_category.is_none() && a.set_counterparty.is_none() && a.set_notes.is_none();
        if no_action && !rule.stop_processing {
            err(
                "actions".into(),
                "set at least one action or stop_processing",
            );
        }
        errors
    }

    /// Skips disabled rules; sorts by (position, id). Invalid rules (any [`Self::check`]
    /// error) are skipped: they were validated on save, so this only guards against drift.
    pub fn new(rules: Vec<Rule>) -> Self {
        let mut rules: Vec<CompiledRule> = rules
            .into_iter()
            .filter(|r| r.enabled && Self::check(r).is_empty())
            .filter_map(compile)
            .collect();
        rules.sort_by(|a, b| (a.rule.position, &a.rule.id).cmp(&(b.rule.position, &b.rule.id)));
        Self { rules }
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Evaluates in order; every matching rule applies its actions (a later match overrides
    /// an earlier value); a matching rule with `stop_processing` ends evaluation.
    pub fn apply(&self, tx: &TxView<'_>) -> RuleOutcome {
        let h = Haystack::new(tx);
        let mut out = RuleOutcome::default();
        for r in &self.rules {
            if !r.matches(&h) {
                continue;
            }
            let rule = &r.rule;
            out.matched.push(rule.id.clone());
            if let Some(c) = &rule.actions.set_category {
                out.category = Some((c.clone(), rule.id.clone()));
            }
            if let Some(cp) = &rule.actions.set_counterparty {
                out.counterparty = Some(cp.clone());
            }
            if let Some(n) = &rule.actions.set_notes {
                out.notes = Some(n.clone());
            }
            if rule.stop_processing {
                break;
            }
        }
        out
    }

    /// Dry run of a single rule (for `POST /rules/{id}/test`): does it match? Ignores
    /// `enabled` (a disabled rule can be tested before switching it on); a rule whose regex
    /// does not compile matches nothing.
    pub fn matches(rule: &Rule, tx: &TxView<'_>) -> bool {
        compile(rule.clone()).is_some_and(|r| r.matches(&Haystack::new(tx)))
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::dec;

    use super::*;

    fn tx<'a>(description: &'a str, amount: Decimal) -> TxView<'a> {
        TxView {
            account_id: "acc1",
            description,
            counterparty: None,
            amount,
        }
    }

    fn rule(id: &str, position: i64, conditions: Vec<Condition>, category: &str) -> Rule {
        Rule {
            id: id.into(),
            name: id.into(),
            position,
            enabled: true,
            match_all: true,
            conditions,
            actions: RuleActions {
                set_category: Some(category.into()),
                ..RuleActions::default()
            },
            stop_processing: false,
        }
    }

    fn contains(v: &str) -> Condition {
        Condition::DescriptionContains { value: v.into() }
    }

    #[test]
    fn later_match_overrides_without_stop() {
        let set = RuleSet::new(vec![
            rule("b", 2, vec![contains("shop")], "second"),
            rule("a", 1, vec![contains("coffee")], "first"),
        ]);
        let out = set.apply(&tx("Coffee shop", dec!(-3)));
        assert_eq!(out.category, Some(("second".into(), "b".into())));
        assert_eq!(out.matched, vec!["a".to_string(), "b".to_string()]);
    }

    #[test]
    fn stop_processing_ends_evaluation() {
        let mut first = rule("a", 1, vec![contains("coffee")], "first");
        first.stop_processing = true;
        first.actions.set_notes = Some("n".into());
        let second = rule("b", 2, vec![contains("shop")], "second");
        let set = RuleSet::new(vec![second, first]);
        let out = set.apply(&tx("Coffee shop", dec!(-3)));
        assert_eq!(out.category, Some(("first".into(), "a".into())));
        assert_eq!(out.notes.as_deref(), Some("n"));
        assert_eq!(out.matched, vec!["a".to_string()]);
    }

    #[test]
    fn ties_on_position_sort_by_id_and_disabled_rules_are_skipped() {
        let mut off = rule("c", 0, vec![contains("x")], "off");
        off.enabled = false;
        let set = RuleSet::new(vec![
            rule("b", 1, vec![contains("x")], "b"),
            rule("a", 1, vec![contains("x")], "a"),
            off,
        ]);
        assert_eq!(set.len(), 2);
        let out = set.apply(&tx("x", dec!(1)));
        assert_eq!(out.matched, vec!["a".to_string(), "b".to_string()]);
    }

    #[test]
    fn and_vs_or() {
        let conds = vec![contains("coffee"), contains("tea")];
        let mut and = rule("and", 1, conds.clone(), "c");
        let mut or = rule("or", 1, conds, "c");
        and.match_all = true;
        or.match_all = false;
        let t = tx("coffee", dec!(-1));
        assert!(!RuleSet::matches(&and, &t));
        assert!(RuleSet::matches(&or, &t));
        assert!(RuleSet::matches(&and, &tx("coffee & tea", dec!(-1))));
    }

    #[test]
    fn no_conditions_never_matches() {
        let r = rule("r", 1, vec![], "c");
        assert!(!RuleSet::matches(&r, &tx("anything", dec!(-1))));
        assert!(RuleSet::new(vec![r]).is_empty());
    }

    #[test]
    fn contains_and_regex_are_case_insensitive() {
        let r = rule("r", 1, vec![contains("ÉPICERIE")], "c");
        assert!(RuleSet::matches(&r, &tx("petite épicerie", dec!(-1))));
        let re = rule(
            "r",
            1,
            vec![Condition::DescriptionRegex {
                pattern: r"^amazon\s+\d+$".into(),
            }],
            "c",
        );
        assert!(RuleSet::matches(&re, &tx("AMAZON 1234", dec!(-1))));
        assert!(!RuleSet::matches(&re, &tx("paid AMAZON 1234", dec!(-1))));
    }

    #[test]
    fn counterparty_conditions() {
        let r = rule(
            "r",
            1,
            vec![Condition::CounterpartyContains {
                value: "acme".into(),
            }],
            "c",
        );
        let mut t = tx("x", dec!(-1));
        assert!(!RuleSet::matches(&r, &t));
        t.counterparty = Some("ACME Corp");
        assert!(RuleSet::matches(&r, &t));
        let re = rule(
            "r",
            1,
            vec![Condition::CounterpartyRegex {
                pattern: "corp$".into(),
            }],
            "c",
        );
        assert!(RuleSet::matches(&re, &t));
    }

    #[test]
    fn amount_range_is_on_absolute_value_inclusive() {
        let r = rule(
            "r",
            1,
            vec![Condition::AmountRange {
                min: Some(dec!(10)),
                max: Some(dec!(20)),
            }],
            "c",
        );
        assert!(RuleSet::matches(&r, &tx("x", dec!(-10))));
        assert!(RuleSet::matches(&r, &tx("x", dec!(20.00))));
        assert!(RuleSet::matches(&r, &tx("x", dec!(-15))));
        assert!(!RuleSet::matches(&r, &tx("x", dec!(-20.01))));
        assert!(!RuleSet::matches(&r, &tx("x", dec!(9.99))));
        let open = rule(
            "r",
            1,
            vec![Condition::AmountRange {
                min: Some(dec!(100)),
                max: None,
            }],
            "c",
        );
        assert!(RuleSet::matches(&open, &tx("x", dec!(-1000))));
    }

    #[test]
    fn direction_and_account() {
        let debit = rule(
            "r",
            1,
            vec![Condition::Direction {
                direction: Direction::Debit,
            }],
            "c",
        );
        assert!(RuleSet::matches(&debit, &tx("x", dec!(-1))));
        assert!(!RuleSet::matches(&debit, &tx("x", dec!(1))));
        assert!(!RuleSet::matches(&debit, &tx("x", dec!(0))));
        let acc = rule(
            "r",
            1,
            vec![Condition::Account {
                account_id: "acc1".into(),
            }],
            "c",
        );
        let mut t = tx("x", dec!(1));
        assert!(RuleSet::matches(&acc, &t));
        t.account_id = "acc2";
        assert!(!RuleSet::matches(&acc, &t));
    }

    #[test]
    fn counterparty_and_notes_actions_apply_without_category() {
        let mut r = rule("r", 1, vec![contains("netflix")], "c");
        r.actions = RuleActions {
            set_category: None,
            set_counterparty: Some("Netflix".into()),
            set_notes: Some("subscription".into()),
        };
        let out = RuleSet::new(vec![r]).apply(&tx("NETFLIX.COM 123", dec!(-12.99)));
        assert_eq!(out.category, None);
        assert_eq!(out.counterparty.as_deref(), Some("Netflix"));
        assert_eq!(out.notes.as_deref(), Some("subscription"));
    }

    #[test]
    fn check_reports_invalid_regex_with_field_path() {
        let r = rule(
            "r",
            1,
            vec![
                contains("ok"),
                Condition::DescriptionRegex {
                    pattern: "([a-z".into(),
                },
            ],
            "c",
        );
        let errors = RuleSet::check(&r);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, "conditions[1].pattern");
        // Skipped by `new`, never matches in a dry run.
        assert!(RuleSet::new(vec![r.clone()]).is_empty());
        assert!(!RuleSet::matches(&r, &tx("ok", dec!(1))));
    }

    #[test]
    fn check_refuses_pathological_regex() {
        let r = rule(
            "r",
            1,
            vec![Condition::CounterpartyRegex {
                pattern: r"\w{1000}\w{1000}\w{1000}".into(),
            }],
            "c",
        );
        let errors = RuleSet::check(&r);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, "conditions[0].pattern");
    }

    #[test]
    fn check_other_errors() {
        let mut r = rule(
            "r",
            1,
            vec![
                contains(" "),
                Condition::AmountRange {
                    min: Some(dec!(5)),
                    max: Some(dec!(1)),
                },
            ],
            "c",
        );
        r.actions = RuleActions::default();
        let paths: Vec<String> = RuleSet::check(&r).into_iter().map(|e| e.0).collect();
        assert_eq!(
            paths,
            vec!["conditions[0].value", "conditions[1].max", "actions"]
        );
        r.stop_processing = true;
        assert_eq!(RuleSet::check(&r).len(), 2);
        assert!(RuleSet::check(&rule("ok", 1, vec![contains("x")], "c")).is_empty());
    }

    #[test]
    fn serde_shapes() {
        let json = r#"{"type":"amount_range","min":"10.5","max":null}"#;
        let c: Condition = serde_json::from_str(json).expect("condition parses");
        assert_eq!(
            c,
            Condition::AmountRange {
                min: Some(dec!(10.5)),
                max: None
            }
        );
        let d: Condition = serde_json::from_str(r#"{"type":"direction","direction":"debit"}"#)
            .expect("direction parses");
        assert_eq!(
            d,
            Condition::Direction {
                direction: Direction::Debit
            }
        );
        assert!(
            serde_json::from_str::<Condition>(r#"{"type":"account","account_id":"a","x":1}"#)
                .is_err()
        );
        let a: RuleActions =
            serde_json::from_str(r#"{"set_category":"c1"}"#).expect("actions parse");
        assert_eq!(a.set_category.as_deref(), Some("c1"));
    }
}
