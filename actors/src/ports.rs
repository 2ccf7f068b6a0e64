//! Ports: what the actors need from the outside world, implemented by the root crate.

use async_trait::async_trait;
use std::fmt;

/// Why a dependency could not be reached. Carries a message safe to show in readiness
/// output (no credentials): implementors must not put secrets in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyError(pub String);

impl fmt::Display for DependencyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DependencyError {}

/// An external dependency the service needs to be ready (database, Redis, …).
#[async_trait]
pub trait Dependency: Send + Sync + 'static {
    /// Stable name shown in readiness output and logs, e.g. `database`.
    fn name(&self) -> &'static str;

    /// Establish the connection and prepare it (for the database: run migrations).
    /// Called again with backoff until it succeeds; must be safe to repeat.
    async fn connect(&self) -> Result<(), DependencyError>;

    /// A cheap round trip proving the dependency answers now.
    async fn check(&self) -> Result<(), DependencyError>;
}
