//! Typed job kinds: each kind of job is one type naming its queue, its name and its payload
//! struct, used by the code that enqueues it and by its handler, so the two cannot disagree
//! about the payload (they were `json!` on one side and `.get("field")` on the other). The
//! [`JobRegistry`] is what a process can run; dispatchers are built from it, and schedules
//! check their payload against it before they are saved.

use super::{Claimed, JobError, JobHandler, JobSpec};
use crate::TraceId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// One kind of job.
pub trait JobKind: 'static {
    const QUEUE: &'static str;
    const NAME: &'static str;
    type Payload: Serialize + DeserializeOwned + Send + Sync + 'static;
}

impl JobSpec {
    /// A job of kind `K` (defaults as [`JobSpec::new`]).
    pub fn of<K: JobKind>(payload: &K::Payload, trace_id: TraceId) -> Self {
        // Payloads are plain structs: serialising one cannot fail (no maps with non-string
        // keys, no failing `Serialize` impls). Null would be refused by the handler.
        let value = serde_json::to_value(payload).unwrap_or(serde_json::Value::Null);
        Self::new(K::QUEUE, K::NAME, value, trace_id)
    }
}

impl Claimed {
    /// The payload as kind `K`'s type. A payload that does not decode is permanent: retrying
    /// cannot fix it.
    pub fn payload_as<K: JobKind>(&self) -> Result<K::Payload, JobError> {
        serde_json::from_value(self.payload.clone())
            .map_err(|e| JobError::Permanent(format!("bad `{}` payload: {e}", K::NAME)))
    }
}

type Check = fn(&serde_json::Value) -> Result<(), String>;

fn check<K: JobKind>(payload: &serde_json::Value) -> Result<(), String> {
    serde_json::from_value::<K::Payload>(payload.clone())
        .map(drop)
        .map_err(|e| e.to_string())
}

struct Entry {
    handler: Arc<dyn JobHandler>,
    check: Check,
}

/// Every job kind this process runs, with its handler.
#[derive(Default)]
pub struct JobRegistry {
    kinds: BTreeMap<(&'static str, &'static str), Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownJob {
    #[error("no job `{name}` in queue `{queue}`; known: {known}")]
    Kind {
        queue: String,
        name: String,
        known: String,
    },
    #[error("payload of `{name}`: {error}")]
    Payload { name: String, error: String },
}

impl JobRegistry {
    pub fn register<K: JobKind>(&mut self, handler: Arc<dyn JobHandler>) -> &mut Self {
        self.kinds.insert(
            (K::QUEUE, K::NAME),
            Entry {
                handler,
                check: check::<K>,
            },
        );
        self
    }

    /// The queues with at least one kind, in order.
    pub fn queues(&self) -> Vec<&'static str> {
        let mut q: Vec<&'static str> = self.kinds.keys().map(|(q, _)| *q).collect();
        q.dedup();
        q
    }

    /// The handlers of `queue`, by job name (what its dispatcher runs).
    pub fn handlers(&self, queue: &str) -> HashMap<String, Arc<dyn JobHandler>> {
        self.kinds
            .iter()
            .filter(|((q, _), _)| *q == queue)
            .map(|((_, n), e)| ((*n).to_owned(), Arc::clone(&e.handler)))
            .collect()
    }

    /// Whether `queue`/`name` is a known kind and `payload` decodes as its payload.
    pub fn validate(
        &self,
        queue: &str,
        name: &str,
        payload: &serde_json::Value,
    ) -> Result<(), UnknownJob> {
        let Some(entry) = self.kinds.get(&(queue, name)) else {
            return Err(UnknownJob::Kind {
                queue: queue.to_owned(),
                name: name.to_owned(),
                known: self
                    .kinds
                    .keys()
                    .map(|(q, n)| format!("{q}/{n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        (entry.check)(payload).map_err(|error| UnknownJob::Payload {
            name: name.to_owned(),
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::Progress;
    use async_trait::async_trait;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Payload {
        id: String,
    }
    struct Ping;
    impl JobKind for Ping {
        const QUEUE: &'static str = "q";
        const NAME: &'static str = "ping";
        type Payload = Payload;
    }
    struct Nop;
    #[async_trait]
    impl JobHandler for Nop {
        async fn run(&self, _: &Claimed, _: &Progress) -> Result<serde_json::Value, JobError> {
            Ok(serde_json::Value::Null)
        }
    }

    #[test]
    fn kinds_round_trip_and_validate() {
        let spec = JobSpec::of::<Ping>(&Payload { id: "a".into() }, TraceId::new("t"));
        assert_eq!((spec.queue.as_str(), spec.name.as_str()), ("q", "ping"));
        let mut r = JobRegistry::default();
        r.register::<Ping>(Arc::new(Nop));
        assert_eq!(r.queues(), vec!["q"]);
        assert_eq!(r.handlers("q").len(), 1);
        assert!(r.validate("q", "ping", &spec.payload).is_ok());
        assert!(matches!(
            r.validate("q", "ping", &serde_json::json!({"id": 1})),
            Err(UnknownJob::Payload { .. })
        ));
        assert!(matches!(
            r.validate("q", "ping", &serde_json::json!({"id": "a", "extra": 1})),
            Err(UnknownJob::Payload { .. })
        ));
        assert!(matches!(
            r.validate("q", "pong", &spec.payload),
            Err(UnknownJob::Kind { .. })
        ));
    }
}
