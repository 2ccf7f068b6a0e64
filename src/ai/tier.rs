//! The categorizer's tier 3 port, answered by the `LlmActor`.

use actors::TraceId;
use actors::ai::actor::{CategorizeWithLlm, LlmActor};
use actors::ai::categorize::{LlmCandidate, Verdict};
use actors::finance::categorize::LlmCategorizer;
use actors::ports::DependencyError;
use actors::supervise::ActorRef;

pub struct LlmTier {
    pub actor: ActorRef<LlmActor>,
    /// `finance.llm_threshold`.
    pub threshold: f64,
}

#[async_trait::async_trait]
impl LlmCategorizer for LlmTier {
    async fn categorize(
        &self,
        batch: Vec<LlmCandidate>,
        categories: Vec<(String, String)>,
        trace_id: &TraceId,
    ) -> Result<Vec<(String, Verdict)>, DependencyError> {
        self.actor
            .send(CategorizeWithLlm {
                batch,
                categories,
                threshold: self.threshold,
                trace_id: trace_id.clone(),
            })
            .await
            .map_err(|e| DependencyError(format!("LLM actor: {e}")))?
            .map_err(|e| DependencyError(e.to_string()))
    }
}
