//! The AI core: everything between a caller that wants a model's help and the `LlmProvider`
//! port, written so a model never invents a number, never sees an IBAN, never spends past
//! the budget, and is asked less as the local model learns.
//!
//! # Layout
//! - `provider.rs`: the `LlmProvider` port and its neutral request/response/error types.
//! - `redact.rs`: IBAN (mod-97), card (Luhn), e-mail, phone and account-number placeholders.
//! - `schema.rs`: the strict JSON-schema subset validator for answers and tool arguments.
//! - `retry.rs`, `breaker.rs`, `budget.rs`, `cache.rs`: resilience and cost, pure.
//! - `categorize.rs`: the categorization tier's batches, prompt, schema and verdicts.
//! - `tools.rs`: the ask loop's allowed tools, step limit and grounding check.
//! - `engine.rs`: one structured or tool call through all of the above.
//! - `actor.rs`: `LlmActor`, the supervised owner of the engine.

pub mod actor;
pub mod breaker;
pub mod budget;
pub mod cache;
pub mod categorize;
pub mod engine;
pub mod provider;
pub mod redact;
pub mod retry;
pub mod schema;
pub mod tools;

pub use provider::{
    ChatMessage, ChatRequest, ChatResponse, Content, LlmError, LlmProvider, OutputSchema, ToolCall,
    ToolSpec, Usage,
};
