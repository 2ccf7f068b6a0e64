//! The `finance` queue's handlers: `import` (a stored upload → the books), `auto_categorize`
//! (after each import/sync, and as a date-range backfill, with progress) and `sync_bank`.

use super::accounts::{self, AccountRow};
use super::imports::{self, ImportRow};
use super::{ingest, profiles};
use crate::db::{Db, DbHandle};
use crate::jobs::JobQueue;
use crate::jobs::store::enqueue_in;
use actors::TraceId;
use actors::finance::bank_sync::{BankSyncActor, SyncError, SyncNow};
use actors::finance::categorizer::{CategorizeBatch, CategorizerActor, Selection};
use actors::finance::parse::{self, CsvProfile, Format};
use actors::finance::{ParseIssue, Parsed, StatementLine};
use actors::jobs::{Claimed, JobError, JobHandler, JobKind, JobRegistry, JobSpec, Progress};
use actors::supervise::ActorRef;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};

pub const QUEUE: &str = "finance";

/// `import`: a stored upload → the books.
pub struct Import;
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportPayload {
    pub import_id: String,
}
impl JobKind for Import {
    const QUEUE: &'static str = QUEUE;
    const NAME: &'static str = "import";
    type Payload = ImportPayload;
}

/// `auto_categorize`: what an import or sync wrote, given ids, or a date range (backfill).
pub struct AutoCategorize;
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum CategorizePayload {
    ImportBatch {
        import_batch: String,
    },
    Ids {
        transaction_ids: Vec<String>,
    },
    Range {
        from: String,
        to: String,
        #[serde(default)]
        account_id: Option<String>,
    },
}
impl JobKind for AutoCategorize {
    const QUEUE: &'static str = QUEUE;
    const NAME: &'static str = "auto_categorize";
    type Payload = CategorizePayload;
}

/// `sync_bank`: one account from its bank provider.
pub struct SyncBank;
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncBankPayload {
    pub account_id: String,
}
impl JobKind for SyncBank {
    const QUEUE: &'static str = QUEUE;
    const NAME: &'static str = "sync_bank";
    type Payload = SyncBankPayload;
}

/// `sync_all`: enqueues `sync_bank` for every linked, unarchived account (the job a cron
/// schedule runs). Its payload is `{}`.
pub struct SyncAll;
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoPayload {}
impl JobKind for SyncAll {
    const QUEUE: &'static str = QUEUE;
    const NAME: &'static str = "sync_all";
    type Payload = NoPayload;
}

/// Registers every finance job kind with `handler`.
pub fn register(registry: &mut JobRegistry, handler: Arc<dyn JobHandler>) {
    registry
        .register::<Import>(Arc::clone(&handler))
        .register::<AutoCategorize>(Arc::clone(&handler))
        .register::<SyncBank>(Arc::clone(&handler))
        .register::<SyncAll>(handler);
}

/// Shared by the handlers. `queue` is set once the job queue exists (it is built after the
/// dispatchers that run these handlers).
#[derive(Clone)]
pub struct FinanceJobs {
    pub db: DbHandle,
    pub queue: Arc<OnceLock<JobQueue>>,
    pub categorizer: ActorRef<CategorizerActor>,
    pub bank_sync: ActorRef<BankSyncActor>,
}

fn retry(e: impl std::fmt::Display) -> JobError {
    JobError::Retryable(e.to_string())
}

/// The `auto_categorize` job for what an import or sync just wrote. It is enqueued in the
/// same transaction as those rows, so it cannot be dropped.
pub fn categorize_spec(
    payload: &CategorizePayload,
    key: Option<String>,
    trace_id: &TraceId,
) -> JobSpec {
    let mut spec = JobSpec::of::<AutoCategorize>(payload, trace_id.clone());
    spec.idempotency_key = key;
    spec
}

/// How an import attempt failed.
enum ImportFailure {
    /// The job's error: retried while attempts remain.
    Job(JobError),
    /// The file cannot be imported as it is: the import is marked failed with `error` and the
    /// rows to blame, and the job ends.
    Refused {
        error: String,
        issues: Vec<ParseIssue>,
    },
}

impl From<JobError> for ImportFailure {
    fn from(e: JobError) -> Self {
        Self::Job(e)
    }
}

impl ImportFailure {
    fn refused(error: String, issue: Option<ParseIssue>) -> Self {
        Self::Refused {
            error,
            issues: issue.into_iter().collect(),
        }
    }
}

/// The uploaded file, parsed with its format (detected when `auto`) and CSV profile. Its
/// bytes are given back before the ingest allocates its rows (a 45 MB statement held them
/// to the end).
async fn parse_upload(
    db: &Db,
    row: &ImportRow,
    progress: &Progress,
) -> Result<Parsed, ImportFailure> {
    let content = imports::content(db, &row.id)
        .await
        .map_err(retry)?
        .ok_or_else(|| JobError::Permanent("the uploaded file is gone".to_owned()))?;
    let format = match Format::parse(&row.format) {
        Some(f) => f,
        None => match parse::detect(&content) {
            Some(f) => f,
            None => {
                return Err(ImportFailure::refused(
                    parse::undetected_reason(&content),
                    None,
                ));
            }
        },
    };
    let profile: Option<CsvProfile> = match &row.profile_id {
        Some(pid) => {
            let p = profiles::get(db, pid)
                .await
                .map_err(retry)?
                .ok_or_else(|| JobError::Permanent(format!("no CSV profile {pid}")))?;
            Some(serde_json::from_str(&p.profile).map_err(|e| JobError::Permanent(e.to_string()))?)
        }
        None => None,
    };
    progress.report(5, Some("parsing")).await;
    parse::parse(format, &content, profile.as_ref()).map_err(|issue| {
        ImportFailure::refused(
            format!("not a readable {} file: {issue}", format.as_str()),
            Some(issue),
        )
    })
}

impl FinanceJobs {
    fn db(&self) -> Result<Db, JobError> {
        self.db
            .get()
            .ok_or_else(|| JobError::Retryable("database not connected".to_owned()))
    }

    /// Nudges this queue's dispatcher after a commit that enqueued (it polls otherwise).
    fn wake(&self) {
        if let Some(queue) = self.queue.get() {
            queue.wake(QUEUE);
        }
    }

    /// Runs one attempt and makes the import's status say how it went: `retrying` with the
    /// error while attempts remain, `failed` once the last one failed.
    #[tracing::instrument(skip_all, fields(import = %import_id, trace_id = %job.trace_id))]
    async fn import(
        &self,
        job: &Claimed,
        import_id: &str,
        progress: &Progress,
    ) -> Result<Value, JobError> {
        let db = self.db()?;
        let res = self.import_attempt(&db, job, import_id, progress).await;
        if let Err(JobError::Retryable(e)) = &res {
            let written = if job.attempt >= job.max_attempts {
                let why = format!("gave up after {} attempts: {e}", job.attempt);
                imports::finish(&db, import_id, "failed", (0, 0, 0, 0), None, Some(why)).await
            } else {
                let why = format!(
                    "attempt {} of {} failed: {e}; retrying",
                    job.attempt, job.max_attempts
                );
                imports::set_status(&db, import_id, "retrying", Some(&why)).await
            };
            if let Err(w) = written {
                tracing::warn!(error = %w, "import status not recorded");
            }
        }
        res
    }

    async fn import_attempt(
        &self,
        db: &Db,
        job: &Claimed,
        import_id: &str,
        progress: &Progress,
    ) -> Result<Value, JobError> {
        let row = imports::get(db, import_id)
            .await
            .map_err(retry)?
            .ok_or_else(|| JobError::Permanent(format!("no import {import_id}")))?;
        if row.status == "completed" {
            return Ok(json!({"import_id": row.id, "inserted": row.inserted, "already": true}));
        }
        imports::set_status(db, &row.id, "running", None)
            .await
            .map_err(retry)?;
        match self.run_import(db, job, &row, progress).await {
            Ok(v) => Ok(v),
            Err(ImportFailure::Job(e)) => Err(e),
            Err(ImportFailure::Refused { error, issues }) => {
                let skipped = (!issues.is_empty())
                    .then(|| serde_json::to_string(&issues).unwrap_or_default());
                imports::finish(
                    db,
                    &row.id,
                    "failed",
                    (0, 0, 0, 0),
                    skipped,
                    Some(error.clone()),
                )
                .await
                .map_err(retry)?;
                Err(JobError::Permanent(error))
            }
        }
    }

    /// Reads, parses and writes one import. A file that cannot be imported is `Refused`
    /// (the caller marks the import failed); anything else is the job's error.
    async fn run_import(
        &self,
        db: &Db,
        job: &Claimed,
        row: &ImportRow,
        progress: &Progress,
    ) -> Result<Value, ImportFailure> {
        let account = accounts::get(db, &row.account_id)
            .await
            .map_err(retry)?
            .ok_or_else(|| JobError::Permanent("the account no longer exists".to_owned()))?;
        let parsed = parse_upload(db, row, progress).await?;
        if !parsed.bad.is_empty() && !row.skip_bad_rows {
            let n = parsed.bad.len();
            return Err(ImportFailure::Refused {
                error: format!(
                    "{n} row{} could not be read ({}); nothing was imported. Fix the file, or import again with skip_bad_rows",
                    if n == 1 { "" } else { "s" },
                    parsed.bad[0]
                ),
                issues: parsed.bad,
            });
        }
        let lines: Vec<StatementLine> = parsed.statement.lines;
        progress
            .report(20, Some(&format!("{} rows read; writing", lines.len())))
            .await;
        let out = self
            .write_import(db, job, row, &account, &lines, &parsed.bad)
            .await?;
        Ok(json!({
            "import_id": row.id, "rows": lines.len(), "inserted": out.inserted,
            "updated": out.updated, "duplicates": out.duplicates, "skipped": parsed.bad.len(),
        }))
    }

    /// The rows, the import's outcome and its categorization job commit together: a crash
    /// leaves none of them (the retry redoes all), never rows without their outcome or job.
    async fn write_import(
        &self,
        db: &Db,
        job: &Claimed,
        row: &ImportRow,
        account: &AccountRow,
        lines: &[StatementLine],
        bad: &[ParseIssue],
    ) -> Result<ingest::IngestOutcome, ImportFailure> {
        let mut tx = db.begin_write().await.map_err(retry)?;
        let opts = ingest::IngestOptions {
            import_batch: Some(row.id.clone()),
        };
        // A refusal drops (rolls back) the transaction before the caller records the
        // failure: SQLite has one writer.
        let out = ingest::ingest_in(&mut tx, account, lines, &opts, &job.trace_id)
            .await
            .map_err(|e| match e {
                ingest::IngestError::Currency { .. } | ingest::IngestError::Precision { .. } => {
                    ImportFailure::Refused {
                        error: e.to_string(),
                        issues: Vec::new(),
                    }
                }
                other => ImportFailure::Job(retry(other)),
            })?;
        let skipped = (!bad.is_empty()).then(|| serde_json::to_string(bad).unwrap_or_default());
        let counts = (
            lines.len() as i64,
            out.inserted as i64,
            out.updated as i64,
            out.duplicates as i64,
        );
        imports::finish_in(&mut tx, &row.id, "completed", counts, skipped, None)
            .await
            .map_err(retry)?;
        let follow_up = (out.inserted > 0 || out.updated > 0).then(|| {
            categorize_spec(
                &CategorizePayload::ImportBatch {
                    import_batch: row.id.clone(),
                },
                Some(format!("categorize:import:{}", row.id)),
                &job.trace_id,
            )
        });
        if let Some(spec) = &follow_up {
            enqueue_in(&mut tx, spec).await.map_err(retry)?;
        }
        tx.commit().await.map_err(retry)?;
        if follow_up.is_some() {
            self.wake();
        }
        Ok(out)
    }

    async fn categorize(&self, job: &Claimed, progress: &Progress) -> Result<Value, JobError> {
        let selection = match job.payload_as::<AutoCategorize>()? {
            CategorizePayload::ImportBatch { import_batch } => Selection::ImportBatch(import_batch),
            CategorizePayload::Ids { transaction_ids } => Selection::Ids(transaction_ids),
            CategorizePayload::Range {
                from,
                to,
                account_id,
            } => Selection::DateRange {
                from,
                to,
                account_id,
            },
        };
        let total = {
            let db = self.db()?;
            let store = super::category_store::SqlCategoryStore(crate::db::DbHandle::connected(db));
            actors::finance::categorizer::CategoryStore::count(&store, &selection)
                .await
                .map_err(retry)?
        };
        let (mut seen, mut by_rule, mut by_model, mut abstained) = (0u64, 0u64, 0u64, 0u64);
        let mut after = None;
        loop {
            let batch = self
                .categorizer
                .send(CategorizeBatch {
                    selection: selection.clone(),
                    after: after.clone(),
                    trace_id: job.trace_id.clone(),
                })
                .await
                .map_err(retry)?
                .map_err(retry)?;
            seen += batch.seen;
            by_rule += batch.by_rule;
            by_model += batch.by_model;
            abstained += batch.abstained;
            let pct = (seen * 100).checked_div(total).unwrap_or(100).min(100);
            progress
                .report(
                    u8::try_from(pct).unwrap_or(100),
                    Some(&format!("{seen}/{total} considered")),
                )
                .await;
            match batch.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        Ok(
            json!({"considered": seen, "by_rule": by_rule, "by_model": by_model, "left_uncategorized": abstained}),
        )
    }

    async fn sync_all(&self, job: &Claimed) -> Result<Value, JobError> {
        let db = self.db()?;
        let queue = self
            .queue
            .get()
            .ok_or_else(|| JobError::Retryable("the job queue is starting".to_owned()))?;
        let mut enqueued = Vec::new();
        for a in accounts::list(&db, false).await.map_err(retry)? {
            if a.external_ref.as_deref().is_none_or(str::is_empty) {
                continue;
            }
            let mut spec = JobSpec::of::<SyncBank>(
                &SyncBankPayload {
                    account_id: a.id.clone(),
                },
                job.trace_id.clone(),
            );
            spec.idempotency_key = Some(format!("sync:{}", a.id));
            spec.idempotency_window = std::time::Duration::from_secs(2);
            let (id, _) = queue.enqueue(&spec).await.map_err(retry)?;
            enqueued.push(id);
        }
        Ok(json!({"enqueued": enqueued}))
    }

    async fn sync(&self, job: &Claimed) -> Result<Value, JobError> {
        let SyncBankPayload { account_id } = job.payload_as::<SyncBank>()?;
        let summary = self
            .bank_sync
            .send(SyncNow {
                account_id: account_id.clone(),
                trace_id: job.trace_id.clone(),
            })
            .await
            .map_err(retry)?
            .map_err(|e| match e {
                SyncError::NotFound(m) | SyncError::Setup(m) => JobError::Permanent(m),
                SyncError::Bank(actors::finance::bank::BankError::Auth(m)) => {
                    JobError::Permanent(m)
                }
                other => JobError::Retryable(other.to_string()),
            })?;
        if summary.inserted + summary.updated > 0 {
            // The ledger enqueued `auto_categorize` with the rows (see `SqlSyncLedger::ingest`).
            self.wake();
        }
        serde_json::to_value(summary).map_err(|e| JobError::Permanent(e.to_string()))
    }
}

#[async_trait]
impl JobHandler for FinanceJobs {
    async fn run(&self, job: &Claimed, progress: &Progress) -> Result<Value, JobError> {
        match job.name.as_str() {
            Import::NAME => {
                let ImportPayload { import_id } = job.payload_as::<Import>()?;
                self.import(job, &import_id, progress).await
            }
            AutoCategorize::NAME => self.categorize(job, progress).await,
            SyncBank::NAME => self.sync(job).await,
            SyncAll::NAME => {
                job.payload_as::<SyncAll>()?;
                self.sync_all(job).await
            }
            other => Err(JobError::Permanent(format!(
                "unknown finance job `{other}`"
            ))),
        }
    }
}
