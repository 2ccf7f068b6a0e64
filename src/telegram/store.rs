//! Telegram storage: links (Telegram user → our user), one-time link codes (stored hashed),
//! notification dedupe per event and recipient, notification preferences.

use crate::db::sql::Sql;
use crate::db::{Db, DbError};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRow {
    pub telegram_user_id: i64,
    pub user_id: String,
    pub telegram_username: Option<String>,
    pub chat_id: i64,
    pub linked_at: DateTime<Utc>,
    pub username: String,
    pub role: String,
    pub disabled: bool,
}

const LINK_SELECT: &str = "SELECT l.telegram_user_id, l.user_id, l.telegram_username, l.chat_id, l.linked_at, \
    u.username, u.role, u.disabled FROM telegram_links l JOIN users u ON u.id = l.user_id";

/// The link of a Telegram user, with the linked user's current name, role and state.
#[tracing::instrument(skip_all, fields(telegram_user_id))]
pub async fn link_of(db: &Db, telegram_user_id: i64) -> Result<Option<LinkRow>, DbError> {
    db.fetch_optional(
        Sql::new(format!("{LINK_SELECT} WHERE l.telegram_user_id = $1")).bind(telegram_user_id),
    )
    .await
}

#[tracing::instrument(skip_all)]
pub async fn links(db: &Db) -> Result<Vec<LinkRow>, DbError> {
    db.fetch_all(Sql::new(format!("{LINK_SELECT} ORDER BY l.linked_at")))
        .await
}

/// `true` if a link was removed.
#[tracing::instrument(skip_all, fields(telegram_user_id))]
pub async fn unlink(db: &Db, telegram_user_id: i64) -> Result<bool, DbError> {
    let n = db
        .execute(
            Sql::new("DELETE FROM telegram_links WHERE telegram_user_id = $1")
                .bind(telegram_user_id),
        )
        .await?;
    Ok(n > 0)
}

/// Links (or re-links) a Telegram user to `user_id` directly (the CLI).
#[tracing::instrument(skip_all, fields(telegram_user_id))]
pub async fn upsert_link(
    db: &Db,
    telegram_user_id: i64,
    user_id: &str,
    telegram_username: Option<&str>,
    chat_id: i64,
) -> Result<(), DbError> {
    let sql = "INSERT INTO telegram_links (telegram_user_id, user_id, telegram_username, chat_id, linked_at) \
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (telegram_user_id) DO UPDATE SET \
               user_id = excluded.user_id, telegram_username = excluded.telegram_username, \
               chat_id = excluded.chat_id, linked_at = excluded.linked_at";
    db.execute(
        Sql::new(sql)
            .bind(telegram_user_id)
            .bind(user_id)
            .bind(telegram_username)
            .bind(chat_id)
            .bind(Utc::now()),
    )
    .await?;
    Ok(())
}

/// Codes are stored as SHA-256: a database dump does not hand out links.
pub fn code_hash(code: &str) -> String {
    let digest = Sha256::digest(code.trim().to_ascii_uppercase().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[tracing::instrument(skip_all)]
pub async fn insert_code(
    db: &Db,
    code: &str,
    user_id: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    let sql = "INSERT INTO telegram_link_codes (code_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
    db.execute(
        Sql::new(sql)
            .bind(code_hash(code))
            .bind(user_id)
            .bind(Utc::now())
            .bind(expires_at),
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeem {
    Linked { user_id: String },
    Unknown,
    Expired,
    Used,
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    user_id: String,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
}

/// Uses a code up and links the Telegram user, in one transaction (a code links once even
/// when two messages race).
#[tracing::instrument(skip_all, fields(telegram_user_id))]
pub async fn redeem(
    db: &Db,
    code: &str,
    telegram_user_id: i64,
    telegram_username: Option<&str>,
    chat_id: i64,
) -> Result<Redeem, DbError> {
    let hash = code_hash(code);
    let now = Utc::now();
    let select =
        "SELECT user_id, expires_at, used_at FROM telegram_link_codes WHERE code_hash = $1";
    let mark =
        "UPDATE telegram_link_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL";
    let link = "INSERT INTO telegram_links (telegram_user_id, user_id, telegram_username, chat_id, linked_at) \
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (telegram_user_id) DO UPDATE SET \
               user_id = excluded.user_id, telegram_username = excluded.telegram_username, \
               chat_id = excluded.chat_id, linked_at = excluded.linked_at";
    // One write transaction: a code links once even when two messages race.
    let mut tx = db.begin_write().await?;
    let row: Option<CodeRow> = tx.fetch_optional(Sql::new(select).bind(&hash)).await?;
    let outcome = match row {
        None => Redeem::Unknown,
        Some(r) if r.used_at.is_some() => Redeem::Used,
        Some(r) if r.expires_at <= now => Redeem::Expired,
        Some(r) => {
            let n = tx.execute(Sql::new(mark).bind(&hash).bind(now)).await?;
            if n == 1 {
                tx.execute(
                    Sql::new(link)
                        .bind(telegram_user_id)
                        .bind(&r.user_id)
                        .bind(telegram_username)
                        .bind(chat_id)
                        .bind(now),
                )
                .await?;
                Redeem::Linked { user_id: r.user_id }
            } else {
                Redeem::Used
            }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Records that `event_key` went to `telegram_user_id`. `false` if it already had (a
/// replayed event after a restart): then it must not be sent again.
#[tracing::instrument(skip_all)]
pub async fn claim_notification(
    db: &Db,
    event_key: &str,
    telegram_user_id: i64,
) -> Result<bool, DbError> {
    let sql = "INSERT INTO telegram_notifications (event_key, telegram_user_id, sent_at) VALUES ($1, $2, $3) \
               ON CONFLICT (event_key, telegram_user_id) DO NOTHING";
    let n = db
        .execute(
            Sql::new(sql)
                .bind(event_key)
                .bind(telegram_user_id)
                .bind(Utc::now()),
        )
        .await?;
    Ok(n == 1)
}

/// How long a sent notification's dedupe row is kept: far beyond any outbox replay (the
/// relay re-sends within seconds of a restart), short enough that the table stays small.
pub const NOTIFICATION_RETENTION_DAYS: i64 = 30;

/// Forgets dedupe rows older than `before` (the outbox never replays that far back).
#[tracing::instrument(skip_all)]
pub async fn prune_notifications(db: &Db, before: DateTime<Utc>) -> Result<u64, DbError> {
    let sql = "DELETE FROM telegram_notifications WHERE sent_at < $1";
    db.execute(Sql::new(sql).bind(before)).await
}

/// `(kind, level)` pairs a user set (kinds not listed use their default).
#[tracing::instrument(skip_all)]
pub async fn preferences(db: &Db, user_id: &str) -> Result<Vec<(String, String)>, DbError> {
    let sql = "SELECT kind, level FROM telegram_preferences WHERE user_id = $1 ORDER BY kind";
    db.fetch_all(Sql::new(sql).bind(user_id)).await
}

#[tracing::instrument(skip_all)]
pub async fn set_preference(
    db: &Db,
    user_id: &str,
    kind: &str,
    level: &str,
) -> Result<(), DbError> {
    let sql = "INSERT INTO telegram_preferences (user_id, kind, level) VALUES ($1, $2, $3) \
               ON CONFLICT (user_id, kind) DO UPDATE SET level = excluded.level";
    db.execute(Sql::new(sql).bind(user_id).bind(kind).bind(level))
        .await?;
    Ok(())
}
