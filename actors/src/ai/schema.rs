//! A small strict JSON-schema validator for the schemas this service sends (the subset
//! OpenAI's strict structured outputs accept): `type` (one or a list), `properties`,
//! `required`, `additionalProperties: false`, `items`, `enum`, `minimum`/`maximum`,
//! `minItems`/`maxItems`, `maxLength`, `anyOf`. A keyword outside this subset is a bug in
//! our schema and is reported as such rather than silently ignored.
//!
//! Why not the `jsonschema` crate: it is a full draft 2020-12 engine with a regex engine,
//! URL resolution and many dependencies, for schemas we write ourselves and keep small.

use serde_json::Value;

/// One violation, with a JSON-pointer-like path to the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}",
            if self.path.is_empty() {
                "/"
            } else {
                &self.path
            },
            self.message
        )
    }
}

const KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "maxLength",
    "anyOf",
    "description",
];

/// Every violation of `value` against `schema` (empty = valid).
pub fn validate(schema: &Value, value: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    check(schema, value, "", &mut out);
    out
}

fn push(out: &mut Vec<Violation>, path: &str, message: impl Into<String>) {
    out.push(Violation {
        path: path.to_owned(),
        message: message.into(),
    });
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.as_i64().is_some() || value.as_u64().is_some(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

fn check(schema: &Value, value: &Value, path: &str, out: &mut Vec<Violation>) {
    let Some(s) = schema.as_object() else {
        push(out, path, "schema is not an object");
        return;
    };
    for k in s.keys() {
        if !KEYWORDS.contains(&k.as_str()) {
            push(out, path, format!("schema keyword `{k}` is not supported"));
        }
    }
    if let Some(ty) = s.get("type") {
        let types: Vec<&str> = match ty {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !types.iter().any(|t| type_matches(t, value)) {
            push(out, path, format!("expected {}", types.join(" or ")));
            return;
        }
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        push(out, path, "not one of the allowed values");
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array)
        && !any
            .iter()
            .any(|sub| validate_at(sub, value, path).is_empty())
    {
        push(out, path, "matches none of the allowed shapes");
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            push(out, path, format!("below the minimum {min}"));
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            push(out, path, format!("above the maximum {max}"));
        }
    }
    if let (Some(text), Some(max)) = (value.as_str(), s.get("maxLength").and_then(Value::as_u64))
        && text.chars().count() as u64 > max
    {
        push(out, path, format!("longer than {max} characters"));
    }
    if let Some(items) = value.as_array() {
        if let Some(min) = s.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            push(out, path, format!("fewer than {min} items"));
        }
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
            && items.len() as u64 > max
        {
            push(out, path, format!("more than {max} items"));
        }
        if let Some(item_schema) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(item_schema, item, &format!("{path}/{i}"), out);
            }
        }
    }
    if let Some(obj) = value.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(required) = s.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    push(out, &format!("{path}/{r}"), "required");
                }
            }
        }
        for (k, v) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(sub) => check(sub, v, &format!("{path}/{k}"), out),
                None => {
                    if s.get("additionalProperties") == Some(&Value::Bool(false)) {
                        push(out, &format!("{path}/{k}"), "unexpected property");
                    }
                }
            }
        }
    }
}

fn validate_at(schema: &Value, value: &Value, path: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    check(schema, value, path, &mut out);
    out
}

/// A one-line summary of violations for a repair prompt (at most a few, to bound tokens).
pub fn summary(violations: &[Violation]) -> String {
    let mut parts: Vec<String> = violations.iter().take(5).map(ToString::to_string).collect();
    if violations.len() > 5 {
        parts.push(format!("and {} more", violations.len() - 5));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "results": {
                    "type": "array",
                    "maxItems": 2,
                    "items": {
                        "type": "object",
                        "properties": {
                            "ref": {"type": "string", "enum": ["t1", "t2"]},
                            "category_id": {"type": ["string", "null"], "enum": ["food", null]},
                            "confidence": {"type": "number", "minimum": 0, "maximum": 1}
                        },
                        "required": ["ref", "category_id", "confidence"],
                        "additionalProperties": false
                    }
                }
            },
            "required": ["results"],
            "additionalProperties": false
        })
    }

    #[test]
    fn valid_answer_passes() {
        let v = json!({"results": [
            {"ref": "t1", "category_id": "food", "confidence": 0.9},
            {"ref": "t2", "category_id": null, "confidence": 0.1}
        ]});
        assert_eq!(validate(&schema(), &v), vec![]);
    }

    #[test]
    fn each_violation_is_named_with_its_path() {
        let v = json!({"results": [
            {"ref": "t9", "category_id": "made_up", "confidence": 1.5, "extra": 1},
            {"ref": "t2"},
            {"ref": "t1", "category_id": null, "confidence": "high"}
        ], "other": true});
        let errs = validate(&schema(), &v);
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        for p in [
            "/results",
            "/results/0/ref",
            "/results/0/category_id",
            "/results/0/confidence",
            "/results/0/extra",
            "/results/1/category_id",
            "/results/1/confidence",
            "/results/2/confidence",
            "/other",
        ] {
            assert!(paths.contains(&p), "{p} missing from {errs:?}");
        }
    }

    #[test]
    fn unsupported_keyword_is_reported() {
        let errs = validate(&json!({"type": "string", "pattern": "x"}), &json!("x"));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("pattern"));
    }

    #[test]
    fn wrong_root_type() {
        assert!(!validate(&schema(), &json!([])).is_empty());
        assert!(validate(&json!({"type": "integer"}), &json!(1.5)).len() == 1);
        assert!(validate(&json!({"type": "integer"}), &json!(3)).is_empty());
    }
}
