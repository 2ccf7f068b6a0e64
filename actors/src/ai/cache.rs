//! Answer cache: the same question to the same template version and model does not pay
//! twice. The key hashes (template name, version, model, normalised input): whitespace runs
//! collapsed and object keys in sorted order, so formatting differences still hit.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

fn normalise(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.split_whitespace().collect::<Vec<_>>().join(" ")),
        Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), normalise(&o[k])))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

pub fn cache_key(template: &str, version: u32, model: &str, input: &Value) -> String {
    let mut h = Sha256::new();
    for part in [template, &version.to_string(), model] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.update(normalise(input).to_string().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A bounded in-memory cache, oldest entry evicted first; entries expire after `ttl`
/// (answers about "this month" go stale as transactions arrive).
#[derive(Debug, Clone)]
pub struct AnswerCache<V> {
    capacity: usize,
    ttl: Duration,
    map: HashMap<String, (Instant, V)>,
    order: VecDeque<String>,
}

impl<V: Clone> AnswerCache<V> {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            capacity,
            ttl,
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn get(&self, key: &str, now: Instant) -> Option<V> {
        self.map
            .get(key)
            .filter(|(at, _)| now.saturating_duration_since(*at) < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&mut self, key: String, value: V, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        if self.map.insert(key.clone(), (now, value)).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_ignores_formatting_but_not_meaning() {
        let a = cache_key("ask", 1, "m", &json!({"q": "how  much\n on food?", "b": 1}));
        let b = cache_key("ask", 1, "m", &json!({"b": 1, "q": " how much on food? "}));
        assert_eq!(a, b);
        assert_ne!(
            a,
            cache_key("ask", 2, "m", &json!({"q": "how much on food?", "b": 1}))
        );
        assert_ne!(
            a,
            cache_key(
                "ask",
                1,
                "other",
                &json!({"q": "how much on food?", "b": 1})
            )
        );
        assert_ne!(
            a,
            cache_key("ask", 1, "m", &json!({"q": "how much on rent?", "b": 1}))
        );
    }

    #[test]
    fn bounded_and_expiring() {
        let t0 = Instant::now();
        let mut c = AnswerCache::new(2, Duration::from_secs(60));
        c.put("a".into(), 1, t0);
        c.put("b".into(), 2, t0);
        c.put("c".into(), 3, t0);
        assert_eq!(c.get("a", t0), None);
        assert_eq!(c.get("c", t0), Some(3));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("c", t0 + Duration::from_secs(60)), None);
    }
}
