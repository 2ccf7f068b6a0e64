//! Readiness registry: one entry per dependency and per supervised actor.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Up,
    Starting,
    Down,
    Stopped,
    /// An optional dependency that does not work (Telegram unreachable): shown, never
    /// makes the service unready.
    Degraded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    Dependency,
    Actor,
    /// A dependency the service works without (Telegram, the LLM provider): reported,
    /// not required; one that is not up makes the service `degraded`, never not ready.
    Optional,
}

/// The state of one component as last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub status: Status,
    /// Why it is not up (safe to show: no secrets), or a short note when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Unix milliseconds of the last status change.
    pub since_ms: u64,
}

/// Snapshot served by the readiness endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadinessReport {
    pub ready: bool,
    pub dependencies: BTreeMap<String, Check>,
    pub actors: BTreeMap<String, Check>,
    /// Optional dependencies: shown, never part of `ready`.
    pub optional: BTreeMap<String, Check>,
}

impl ReadinessReport {
    /// Names of optional components that are not up.
    pub fn degraded(&self) -> Vec<String> {
        self.optional
            .iter()
            .filter(|(_, c)| c.status != Status::Up)
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// Shared, cheap to clone. Writers are actors and watcher tasks; the reader is the
/// readiness endpoint. The lock is never held across an await.
#[derive(Clone, Default, Debug)]
pub struct Readiness {
    inner: Arc<RwLock<BTreeMap<(ComponentKind, String), Check>>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

impl Readiness {
    pub fn set(&self, kind: ComponentKind, name: &str, status: Status, detail: Option<String>) {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let key = (kind, name.to_owned());
        let since_ms = match map.get(&key) {
            Some(old) if old.status == status => old.since_ms,
            _ => now_ms(),
        };
        map.insert(
            key,
            Check {
                status,
                detail,
                since_ms,
            },
        );
    }

    pub fn set_optional(&self, name: &str, status: Status, detail: Option<String>) {
        self.set(ComponentKind::Optional, name, status, detail);
    }

    pub fn get(&self, kind: ComponentKind, name: &str) -> Option<Check> {
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        map.get(&(kind, name.to_owned())).cloned()
    }

    /// Ready when every registered component is up. A component that is `Stopped`
    /// (during shutdown) counts as not ready, so load balancers drain us first.
    pub fn report(&self) -> ReadinessReport {
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let mut report = ReadinessReport {
            ready: true,
            dependencies: BTreeMap::new(),
            actors: BTreeMap::new(),
            optional: BTreeMap::new(),
        };
        for ((kind, name), check) in map.iter() {
            let section = match kind {
                ComponentKind::Dependency => &mut report.dependencies,
                ComponentKind::Actor => &mut report.actors,
                ComponentKind::Optional => &mut report.optional,
            };
            if *kind != ComponentKind::Optional {
                report.ready &= check.status == Status::Up;
            }
            section.insert(name.clone(), check.clone());
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_everything_is_up() {
        let r = Readiness::default();
        assert!(
            r.report().ready,
            "nothing registered yet is vacuously ready"
        );
        r.set(ComponentKind::Dependency, "database", Status::Up, None);
        r.set(ComponentKind::Actor, "monitor", Status::Starting, None);
        let rep = r.report();
        assert!(!rep.ready);
        assert_eq!(rep.actors["monitor"].status, Status::Starting);
        r.set(ComponentKind::Actor, "monitor", Status::Up, None);
        assert!(r.report().ready);
        r.set(
            ComponentKind::Optional,
            "telegram",
            Status::Degraded,
            Some("409".into()),
        );
        let rep = r.report();
        assert!(
            rep.ready,
            "an optional dependency never makes the service unready"
        );
        assert_eq!(rep.optional["telegram"].status, Status::Degraded);
        r.set_optional("llm", Status::Down, Some("breaker open".into()));
        let rep = r.report();
        assert!(rep.ready, "an optional component never makes us unready");
        assert_eq!(
            rep.degraded(),
            vec!["llm".to_owned(), "telegram".to_owned()]
        );
    }

    #[test]
    fn since_is_kept_while_status_is_unchanged() {
        let r = Readiness::default();
        r.set(
            ComponentKind::Dependency,
            "db",
            Status::Down,
            Some("a".into()),
        );
        let first = r.get(ComponentKind::Dependency, "db").map(|c| c.since_ms);
        r.set(
            ComponentKind::Dependency,
            "db",
            Status::Down,
            Some("b".into()),
        );
        let again = r.get(ComponentKind::Dependency, "db");
        assert_eq!(again.as_ref().map(|c| c.since_ms), first);
        assert_eq!(again.and_then(|c| c.detail), Some("b".to_owned()));
    }
}
