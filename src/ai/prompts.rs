//! Prompt templates: files under `prompts/` embedded in the binary, each overridable by a
//! file of the same name in `ai.prompts_dir`. A file starts with `version: N`, a `---` line,
//! then the system prompt. The name and version go into every `llm_calls` row and the cache
//! key, so editing a prompt (and bumping its version) never reuses answers of the old one.

use actors::ai::engine::Prompt;
use serde::Serialize;
use std::path::Path;
use utoipa::ToSchema;

const EMBEDDED: &[(&str, &str)] = &[
    ("ask", include_str!("../../prompts/ask.txt")),
    ("categorize", include_str!("../../prompts/categorize.txt")),
];

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("prompt `{name}` ({source_name}): {reason}")]
    Invalid {
        name: String,
        source_name: String,
        reason: String,
    },
}

/// A template as served by `GET /v1/ai/prompts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PromptInfo {
    pub name: String,
    pub version: u32,
    /// `embedded` or `override` (a file in `ai.prompts_dir`).
    pub source: String,
    pub text: String,
}

fn parse(name: &str, source_name: &str, raw: &str) -> Result<Prompt, PromptError> {
    let invalid = |reason: &str| PromptError::Invalid {
        name: name.to_owned(),
        source_name: source_name.to_owned(),
        reason: reason.to_owned(),
    };
    let (head, body) = raw
        .split_once("\n---\n")
        .ok_or_else(|| invalid("expected `version: N`, a `---` line, then the prompt"))?;
    let version = head
        .trim()
        .strip_prefix("version:")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .ok_or_else(|| invalid("the first line must be `version: N` (a positive integer)"))?;
    let system = body.trim().to_owned();
    if system.is_empty() {
        return Err(invalid("the prompt is empty"));
    }
    Ok(Prompt {
        name: name.to_owned(),
        version,
        system,
    })
}

/// Every template, overrides applied. A broken override is an error (better than silently
/// running the embedded one the owner meant to replace).
pub fn load(dir: &Path) -> Result<Vec<PromptInfo>, PromptError> {
    EMBEDDED
        .iter()
        .map(|(name, embedded)| {
            let path = dir.join(format!("{name}.txt"));
            let (source, raw) = match std::fs::read_to_string(&path) {
                Ok(raw) => ("override", raw),
                Err(_) => ("embedded", (*embedded).to_owned()),
            };
            let p = parse(name, &path.display().to_string(), &raw)?;
            Ok(PromptInfo {
                name: p.name,
                version: p.version,
                source: source.to_owned(),
                text: p.system,
            })
        })
        .collect()
}

pub fn get(prompts: &[PromptInfo], name: &str) -> Prompt {
    prompts.iter().find(|p| p.name == name).map_or_else(
        || Prompt {
            name: name.to_owned(),
            version: 0,
            system: String::new(),
        },
        |p| Prompt {
            name: p.name.clone(),
            version: p.version,
            system: p.text.clone(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_prompts_parse() {
        let all = load(Path::new("/nonexistent")).expect("embedded prompts are valid");
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|p| p.source == "embedded" && p.version >= 1));
    }

    #[test]
    fn bad_header_is_named() {
        let e = parse("ask", "x.txt", "hello\n---\nbody").expect_err("no version");
        assert!(e.to_string().contains("version: N"));
    }
}
