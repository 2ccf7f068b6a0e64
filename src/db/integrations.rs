//! `integration_settings` and `integration_secrets` (ciphertext only; see `crate::crypto`).

use super::{Db, DbError, Sql};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SettingRow {
    pub environment: String,
    pub provider: String,
    pub mode: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SecretRow {
    pub environment: String,
    pub provider: String,
    pub name: String,
    pub ciphertext: Vec<u8>,
    pub last4: String,
    pub updated_at: DateTime<Utc>,
}

/// A secret to store: already encrypted.
pub struct SecretWrite {
    pub name: String,
    pub ciphertext: Vec<u8>,
    pub last4: String,
}

/// Upserts the setting, writes/deletes the named secrets, in one transaction.
#[tracing::instrument(skip_all, fields(environment, provider))]
pub async fn upsert(
    db: &Db,
    environment: &str,
    provider: &str,
    mode: &str,
    by: &str,
    put: &[SecretWrite],
    delete: &[String],
) -> Result<(), DbError> {
    let now = Utc::now();
    let upsert = "INSERT INTO integration_settings (environment, provider, mode, updated_at, updated_by) \
                  VALUES ($1, $2, $3, $4, $5) ON CONFLICT (environment, provider) \
                  DO UPDATE SET mode = excluded.mode, updated_at = excluded.updated_at, updated_by = excluded.updated_by";
    let put_sql = "INSERT INTO integration_secrets (environment, provider, name, ciphertext, last4, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (environment, provider, name) \
                   DO UPDATE SET ciphertext = excluded.ciphertext, last4 = excluded.last4, updated_at = excluded.updated_at";
    let del_sql =
        "DELETE FROM integration_secrets WHERE environment = $1 AND provider = $2 AND name = $3";
    let mut tx = db.begin_write().await?;
    let sql = Sql::new(upsert)
        .bind(environment)
        .bind(provider)
        .bind(mode)
        .bind(now)
        .bind(by);
    tx.execute(sql).await?;
    for s in put {
        let sql = Sql::new(put_sql)
            .bind(environment)
            .bind(provider)
            .bind(&s.name)
            .bind(&s.ciphertext)
            .bind(&s.last4)
            .bind(now);
        tx.execute(sql).await?;
    }
    for name in delete {
        let sql = Sql::new(del_sql)
            .bind(environment)
            .bind(provider)
            .bind(name);
        tx.execute(sql).await?;
    }
    tx.commit().await
}

#[tracing::instrument(skip_all)]
pub async fn list(db: &Db) -> Result<(Vec<SettingRow>, Vec<SecretRow>), DbError> {
    let s = "SELECT environment, provider, mode, updated_at, updated_by FROM integration_settings ORDER BY environment, provider";
    let k = "SELECT environment, provider, name, ciphertext, last4, updated_at FROM integration_secrets ORDER BY name";
    let settings = on_db!(db, |p| sqlx::query_as::<_, SettingRow>(s)
        .fetch_all(p)
        .await)?;
    let secrets = on_db!(db, |p| sqlx::query_as::<_, SecretRow>(k).fetch_all(p).await)?;
    Ok((settings, secrets))
}

#[tracing::instrument(skip_all)]
pub async fn get(
    db: &Db,
    environment: &str,
    provider: &str,
) -> Result<Option<(SettingRow, Vec<SecretRow>)>, DbError> {
    let s = "SELECT environment, provider, mode, updated_at, updated_by FROM integration_settings \
             WHERE environment = $1 AND provider = $2";
    let k = "SELECT environment, provider, name, ciphertext, last4, updated_at FROM integration_secrets \
             WHERE environment = $1 AND provider = $2 ORDER BY name";
    let Some(setting) = on_db!(db, |p| sqlx::query_as::<_, SettingRow>(s)
        .bind(environment)
        .bind(provider)
        .fetch_optional(p)
        .await)?
    else {
        return Ok(None);
    };
    let secrets = on_db!(db, |p| sqlx::query_as::<_, SecretRow>(k)
        .bind(environment)
        .bind(provider)
        .fetch_all(p)
        .await)?;
    Ok(Some((setting, secrets)))
}

/// `true` if something was deleted (secrets go with it, by cascade).
#[tracing::instrument(skip_all)]
pub async fn delete(db: &Db, environment: &str, provider: &str) -> Result<bool, DbError> {
    let sql = "DELETE FROM integration_settings WHERE environment = $1 AND provider = $2";
    let n = on_db!(db, |p| sqlx::query(sql)
        .bind(environment)
        .bind(provider)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Decrypts one secret for in-process use (an actor about to call a provider). Never
/// returned by the API.
pub async fn secret(
    db: &Db,
    cipher: &crate::crypto::Cipher,
    environment: &str,
    provider: &str,
    name: &str,
) -> anyhow::Result<Option<secrecy::SecretString>> {
    let Some((_, secrets)) = get(db, environment, provider).await? else {
        return Ok(None);
    };
    let Some(row) = secrets.into_iter().find(|s| s.name == name) else {
        return Ok(None);
    };
    let aad = format!("{environment}/{provider}/{name}");
    let plain = cipher.decrypt(&row.ciphertext, aad.as_bytes())?;
    Ok(Some(secrecy::SecretString::from(String::from_utf8(plain)?)))
}
