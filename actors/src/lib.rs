//! The actors of ai-service and the ports (traits) they talk to the world through.
//!
//! This crate knows nothing of HTTP, SQL or configuration files: `ai-service` (the root crate)
//! implements the ports and wires the actors together in `startup.rs`. Keeping the seam here
//! lets every state machine be tested as a pure function and every actor against a fake port.
//!
//! # Layout
//! - [`ai`]: the AI core (redaction, strict answers, retries, breaker, budget, cache, the
//!   categorization tier and the ask tool loop) behind the `LlmProvider` port.
//! - [`trace`]: the trace id that ties a request to the actor messages and jobs it causes.
//! - [`ports`]: traits the actors need from the outside (a dependency to connect and check, …).
//! - [`supervise`]: restart-with-backoff supervision on top of actix (which does not catch
//!   panics), readiness reporting, restart counting and ordered shutdown.
//! - [`health`]: `DependencyMonitor`, the actor that connects a dependency with backoff and
//!   keeps checking it, so readiness can turn red and green again without a restart.
//! - [`events`]: the typed in-process event bus and the outbox relay feeding it.
//! - [`jobs`]: the durable job port (`JobStore`), typed job kinds and their registry,
//!   handlers, and the per-queue `Dispatcher`.
//! - [`audit`]: `AuditWriter`, batching audit events to the `AuditSink` port off the request path.
//! - [`trading`]: the strategy lifecycle and order state machines, risk, PnL, strategies, the
//!   paper exchange, and the runtime (manager + one actor per running strategy).
//! - [`telegram`]: chat control: command parsing, name resolution, confirmation tokens, message
//!   splitting, send pacing, the polling policy (all pure) and the `TelegramActor`.
//! - [`finance`]: statement parsers, dedupe identities, rules and the learned categorizer, and
//!   the categorizer and bank-sync actors.
//! - `testkit` (feature `testkit`): in-memory fakes of the ports (trading, job and category
//!   stores, a venue that fails on demand) and `eventually`, so actors are tested without a
//!   database; the crate's own tests turn it on.

pub mod ai;
pub mod audit;
pub mod events;
pub mod finance;
pub mod health;
pub mod jobs;
pub mod ports;
pub mod supervise;
pub mod telegram;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod trace;
pub mod trading;

pub use trace::TraceId;
