//! Finance from the chat: statement files sent as documents (imported through the normal
//! import job into the account the user picks), and category taps on new transactions.

use super::backend::SqlChatBackend;
use crate::audit::Entry;
use crate::db::sql::Sql;
use crate::finance::imports::{self, ImportRow};
use crate::finance::jobs::{Import, ImportPayload, QUEUE};
use crate::finance::{accounts, categories, transactions};
use actors::TraceId;
use actors::events::CategoryUpdated;
use actors::jobs::JobSpec;
use actors::telegram::ports::{Handled, LinkedUser, Reply};
use actors::telegram::text::escape_html as esc;
use actors::telegram::types::Document;
use rand::Rng;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A file waits this long for the user to pick its account.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// Statement files from the chat are held in memory until the account is chosen: a few at once.
const MAX_PENDING: usize = 4;

/// A file's bytes, its name, when it arrived.
type Pending = (Vec<u8>, String, Instant);

#[derive(Default)]
pub struct PendingFiles(Mutex<HashMap<String, Pending>>);

impl PendingFiles {
    fn put(&self, bytes: Vec<u8>, name: String) -> String {
        let id: String = format!("{:012x}", rand::rng().random::<u64>() & 0xffff_ffff_ffff);
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        map.retain(|_, (_, _, at)| now.duration_since(*at) < PENDING_TTL);
        while map.len() >= MAX_PENDING {
            let oldest = map
                .iter()
                .min_by_key(|(_, (_, _, at))| *at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert(id.clone(), (bytes, name, now));
        id
    }

    fn take(&self, id: &str) -> Option<(Vec<u8>, String)> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.remove(id)
            .filter(|(_, _, at)| at.elapsed() < PENDING_TTL)
            .map(|(b, n, _)| (b, n))
    }
}

impl SqlChatBackend {
    /// A document arrived: ask which account it belongs to.
    pub(super) async fn offer_import(&self, doc: &Document, bytes: Vec<u8>) -> Handled {
        let db = match self.db() {
            Ok(d) => d,
            Err(e) => return super::backend::unavailable(e),
        };
        let accounts = match accounts::list(&db, false).await {
            Ok(a) => a,
            Err(e) => return super::backend::unavailable(e),
        };
        if accounts.is_empty() {
            return Handled::text(
                "invalid",
                "Create an account first (POST /v1/financial/accounts).",
            );
        }
        let name = doc
            .file_name
            .clone()
            .unwrap_or_else(|| "statement".to_owned());
        let pending = self.pending.put(bytes, name.clone());
        Handled::ok(Reply::Choose {
            text: format!("Import <b>{}</b> into which account?", esc(&name)),
            options: accounts
                .iter()
                .take(20)
                .map(|a| (a.name.clone(), format!("import:{pending}:{}", a.id)))
                .collect(),
        })
    }

    /// The account was picked: the file goes through the normal import job; the reply comes
    /// when the import finished.
    pub(super) async fn run_import(
        &self,
        user: &LinkedUser,
        arg: &str,
        trace: &TraceId,
    ) -> Handled {
        let (Ok(state), Ok(db)) = (self.state(), self.db()) else {
            return super::backend::unavailable("not ready");
        };
        let Some((pending, account_id)) = arg.split_once(':') else {
            return Handled::text("invalid", "Unknown action.");
        };
        let Some((bytes, filename)) = self.pending.take(pending) else {
            return Handled::text("expired", "That file is no longer here; send it again.");
        };
        let account = match accounts::get(&db, account_id).await {
            Ok(Some(a)) => a,
            Ok(None) => return Handled::text("not_found", "That account no longer exists."),
            Err(e) => return super::backend::unavailable(e),
        };
        let id = uuid::Uuid::now_v7().to_string();
        let mut spec = JobSpec::of::<Import>(
            &ImportPayload {
                import_id: id.clone(),
            },
            trace.clone(),
        );
        spec.idempotency_key = Some(format!("import:{id}"));
        let size = bytes.len();
        let created = async {
            let mut tx = db.begin_write().await?;
            let (job_id, _) = crate::jobs::store::enqueue_in(&mut tx, &spec).await?;
            let row = ImportRow {
                id: id.clone(),
                account_id: account.id.clone(),
                format: "auto".to_owned(),
                filename: filename.clone(),
                profile_id: None,
                skip_bad_rows: false,
                status: "queued".to_owned(),
                job_id: Some(job_id.clone()),
                rows_total: 0,
                inserted: 0,
                updated: 0,
                duplicates: 0,
                skipped: None,
                error: None,
                trace_id: trace.as_str().to_owned(),
                created_at: chrono::Utc::now().timestamp_millis(),
                finished_at: None,
            };
            imports::create_in(&mut tx, &row, &mut bytes.as_slice()).await?;
            tx.commit().await?;
            anyhow::Ok(job_id)
        }
        .await;
        let job_id = match created {
            Ok(j) => j,
            Err(e) => return super::backend::unavailable(e),
        };
        state.jobs.wake(QUEUE);
        state.audit.record(Entry {
            trace_id: trace,
            principal: format!("user:{}", user.username),
            action: "import.create",
            target: format!("account:{}", account.name),
            outcome: "accepted",
            client_ip: None,
            detail: Some(format!(
                "{filename} ({size} bytes), job {job_id} (telegram)"
            )),
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match imports::get(&db, &id).await {
                Ok(Some(r)) if r.status == "completed" => {
                    let uncategorized = uncategorized_in(&db, &id).await.unwrap_or(0);
                    return Handled::text(
                        "ok",
                        format!(
                            "Imported <b>{}</b> into {}: {} new, {} updated, {} duplicates, {} uncategorized.",
                            esc(&filename),
                            esc(&account.name),
                            r.inserted,
                            r.updated,
                            r.duplicates,
                            uncategorized
                        ),
                    );
                }
                Ok(Some(r)) if r.status == "failed" => {
                    return Handled::text(
                        "error",
                        format!(
                            "Import of <b>{}</b> failed: {}",
                            esc(&filename),
                            esc(r.error.as_deref().unwrap_or("unknown error"))
                        ),
                    );
                }
                _ if Instant::now() >= deadline => {
                    return Handled::text(
                        "ok",
                        format!(
                            "Import of <b>{}</b> is still running (job {job_id}).",
                            esc(&filename)
                        ),
                    );
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// A category tap: the user's choice, locked and learned, as a PATCH would.
    pub(super) async fn categorize(
        &self,
        user: &LinkedUser,
        arg: &str,
        trace: &TraceId,
    ) -> Handled {
        let (Ok(state), Ok(db)) = (self.state(), self.db()) else {
            return super::backend::unavailable("not ready");
        };
        let Some((tx_id, category_id)) = arg.split_once(':') else {
            return Handled::text("invalid", "Unknown action.");
        };
        if category_id == "other" {
            let cats = categories::list(&db).await.unwrap_or_default();
            return Handled::ok(Reply::Choose {
                text: "Pick a category:".to_owned(),
                options: cats
                    .iter()
                    .filter(|c| c.kind != "transfer")
                    .take(30)
                    .map(|c| (c.name.clone(), format!("cat:{tx_id}:{}", c.id)))
                    .collect(),
            });
        }
        let (mut row, category) = match (
            transactions::get(&db, tx_id).await,
            categories::get(&db, category_id).await,
        ) {
            (Ok(Some(r)), Ok(Some(c))) => (r, c),
            (Ok(None), _) | (_, Ok(None)) => {
                return Handled::text(
                    "not_found",
                    "That transaction or category no longer exists.",
                );
            }
            (Err(e), _) | (_, Err(e)) => return super::backend::unavailable(e),
        };
        let previous = (row.categorized_by.as_deref() == Some("user"))
            .then(|| row.category_id.clone())
            .flatten();
        row.category_id = Some(category.id.clone());
        row.categorized_by = Some("user".to_owned());
        row.category_locked = true;
        row.updated_at = chrono::Utc::now().timestamp_millis();
        if let Err(e) = transactions::upsert(&db, &row).await {
            return super::backend::unavailable(e);
        }
        let _ = state
            .finance
            .categorizer
            .try_tell(actors::finance::categorizer::Learn {
                description: row.description.clone(),
                counterparty: row.counterparty.clone(),
                amount: crate::finance::money::from_e4(row.amount_e4),
                previous_user_category: previous,
                category_id: category.id.clone(),
            });
        state.events.publish(CategoryUpdated {
            transaction_id: row.id.clone(),
            category: category.id.clone(),
            categorized_by: "user".to_owned(),
            trace_id: trace.clone(),
        });
        state.audit.record(Entry {
            trace_id: trace,
            principal: format!("user:{}", user.username),
            action: "transaction.update",
            target: format!("transaction:{}", row.id),
            outcome: "success",
            client_ip: None,
            detail: Some(format!("category {} (telegram)", category.name)),
        });
        Handled::text(
            "ok",
            format!(
                "{} {} {} → <b>{}</b> ✓",
                esc(&row.booked_date),
                esc(&row.amount),
                esc(&row.description),
                esc(&category.name)
            ),
        )
    }
}

async fn uncategorized_in(db: &crate::db::Db, import_id: &str) -> Result<i64, crate::db::DbError> {
    let sql =
        "SELECT COUNT(*) FROM fin_transactions WHERE import_batch = $1 AND category_id IS NULL";
    db.fetch_scalar(Sql::new(sql).bind(import_id)).await
}

/// A transaction with its category buttons (the top suggestions, then Other…): the
/// new-transaction notification and each line of `/uncategorized`.
pub async fn category_tap(
    db: &crate::db::Db,
    row: &transactions::TxRow,
) -> Result<Reply, crate::db::DbError> {
    let mut options: Vec<(String, String)> = suggestions(db, row)
        .await?
        .into_iter()
        .map(|(cat, name)| (name, format!("cat:{}:{cat}", row.id)))
        .collect();
    options.push(("Other…".to_owned(), format!("cat:{}:other", row.id)));
    let text = format!(
        "🧾 {} <b>{} {}</b> {}{}\nCategory?",
        esc(&row.booked_date),
        esc(&row.amount),
        esc(&row.currency),
        esc(&row.description),
        row.counterparty
            .as_deref()
            .map(|c| format!(" ({})", esc(c)))
            .unwrap_or_default()
    );
    Ok(Reply::Choose { text, options })
}

/// How many uncategorized transactions `/uncategorized` lists (one message each).
const UNCATEGORIZED_SHOWN: i64 = 10;

impl SqlChatBackend {
    /// `/uncategorized`: the total, then the latest few, each with its category buttons.
    pub(super) async fn uncategorized(&self) -> Handled {
        let Ok(db) = self.db() else {
            return super::backend::unavailable("not ready");
        };
        let listed = async {
            let total: i64 = db
                .fetch_scalar(Sql::new(
                    "SELECT COUNT(*) FROM fin_transactions WHERE category_id IS NULL",
                ))
                .await?;
            let sql = format!(
                "SELECT {} FROM fin_transactions WHERE category_id IS NULL \
                 ORDER BY booked_date DESC, id DESC LIMIT $1",
                transactions::READ_COLUMNS
            );
            let rows: Vec<transactions::TxRow> = db
                .fetch_all(Sql::new(sql).bind(UNCATEGORIZED_SHOWN))
                .await?;
            let mut replies = Vec::with_capacity(rows.len() + 1);
            replies.push(Reply::Text(format!(
                "<b>{total}</b> uncategorized transactions; the latest {}:",
                rows.len()
            )));
            for row in &rows {
                replies.push(category_tap(&db, row).await?);
            }
            Ok::<_, crate::db::DbError>((total, replies))
        }
        .await;
        match listed {
            Ok((0, _)) => Handled::text("ok", "No uncategorized transactions."),
            Ok((_, replies)) => Handled::ok(Reply::Many(replies)),
            Err(e) => super::backend::unavailable(e),
        }
    }
}

/// The categories to offer for a transaction: the LLM tier's suggestion (below the threshold,
/// so not applied), the automatic guess, then the user's own most frequent choices for the
/// same counterparty or description, then their most used overall.
pub async fn suggestions(
    db: &crate::db::Db,
    row: &transactions::TxRow,
) -> Result<Vec<(String, String)>, crate::db::DbError> {
    let same = "SELECT category_id, COUNT(*) FROM fin_transactions WHERE categorized_by = 'user' AND category_id IS NOT NULL \
                AND (description = $1 OR counterparty = $2) GROUP BY category_id ORDER BY 2 DESC, 1 LIMIT 3";
    let overall = "SELECT category_id, COUNT(*) FROM fin_transactions WHERE categorized_by = 'user' AND category_id IS NOT NULL \
                   GROUP BY category_id ORDER BY 2 DESC, 1 LIMIT 3";
    let mut ids: Vec<String> = row
        .suggested_category_id
        .iter()
        .chain(row.auto_category_id.iter())
        .cloned()
        .collect();
    let cp = row.counterparty.clone().unwrap_or_default();
    for sql in [same, overall] {
        let rows: Vec<(String, i64)> = if sql == same {
            db.fetch_all(Sql::new(sql).bind(&row.description).bind(&cp))
                .await?
        } else {
            db.fetch_all(Sql::new(sql)).await?
        };
        ids.extend(rows.into_iter().map(|(id, _)| id));
    }
    let cats = categories::list(db).await?;
    if ids.len() < 3 {
        // Nothing learned yet: expense categories by name, so there is something to tap.
        ids.extend(
            cats.iter()
                .filter(|c| c.kind == "expense")
                .map(|c| c.id.clone()),
        );
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for id in ids {
        if out.len() == 3 {
            break;
        }
        if out.iter().any(|(i, _)| *i == id) {
            continue;
        }
        if let Some(c) = cats.iter().find(|c| c.id == id) {
            out.push((c.id.clone(), c.name.clone()));
        }
    }
    Ok(out)
}
