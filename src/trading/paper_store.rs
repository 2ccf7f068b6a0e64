//! [`PaperStore`] on SQLite/Postgres: the paper exchange's balances and orders survive
//! restarts, and its trade sequence never repeats an id.

use super::store::dec;
use crate::db::{Db, DbError, DbHandle, Sql};
use actors::ports::DependencyError;
use actors::trading::paper::{PaperOrder, PaperSnapshot, PaperStore};
use async_trait::async_trait;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

pub struct SqlPaperStore(pub DbHandle);

use crate::db::port_error as dep;

impl SqlPaperStore {
    fn db(&self) -> Result<Db, DependencyError> {
        self.0.port()
    }
}

fn order(body: &str) -> Result<PaperOrder, DependencyError> {
    serde_json::from_str(body).map_err(|e| dep(format!("stored paper order: {e}")))
}

#[async_trait]
impl PaperStore for SqlPaperStore {
    #[tracing::instrument(skip_all, fields(venue))]
    async fn load(&self, venue: &str) -> Result<Option<PaperSnapshot>, DependencyError> {
        let db = self.db()?;
        let sql = Sql::new("SELECT last_trade_seq FROM paper_venues WHERE venue = $1").bind(venue);
        let seq: Option<i64> = db.fetch_scalar_optional(sql).await.map_err(dep)?;
        let Some(seq) = seq else {
            return Ok(None);
        };
        let sql = Sql::new("SELECT asset, amount FROM paper_balances WHERE venue = $1").bind(venue);
        let balances: Vec<(String, String)> = db.fetch_all(sql).await.map_err(dep)?;
        let sql = Sql::new(
            "SELECT body FROM paper_orders WHERE venue = $1 AND terminal = FALSE ORDER BY client_order_id",
        )
        .bind(venue);
        let bodies: Vec<(String,)> = db.fetch_all(sql).await.map_err(dep)?;
        Ok(Some(PaperSnapshot {
            balances: balances
                .iter()
                .map(|(a, v)| Ok((a.clone(), dec(v)?)))
                .collect::<Result<_, DependencyError>>()?,
            open_orders: bodies
                .iter()
                .map(|(b,)| order(b))
                .collect::<Result<_, _>>()?,
            last_trade_seq: u64::try_from(seq).unwrap_or(0),
        }))
    }

    async fn get_order(
        &self,
        venue: &str,
        client_order_id: &str,
    ) -> Result<Option<PaperOrder>, DependencyError> {
        let db = self.db()?;
        let sql =
            Sql::new("SELECT body FROM paper_orders WHERE venue = $1 AND client_order_id = $2")
                .bind(venue)
                .bind(client_order_id);
        let body: Option<String> = db.fetch_scalar_optional(sql).await.map_err(dep)?;
        body.map(|b| order(&b)).transpose()
    }

    #[tracing::instrument(skip_all, fields(venue))]
    async fn save(
        &self,
        venue: &str,
        balances: &BTreeMap<String, Decimal>,
        last_trade_seq: u64,
        paper_order: Option<&PaperOrder>,
    ) -> Result<(), DependencyError> {
        let db = self.db()?;
        let seq = i64::try_from(last_trade_seq).map_err(dep)?;
        let body = paper_order
            .map(|o| serde_json::to_string(o).map_err(dep))
            .transpose()?;
        let now = chrono::Utc::now().timestamp_millis();
        let order = paper_order.zip(body.as_deref());
        save_in(&db, venue, balances, seq, order, now)
            .await
            .map_err(dep)
    }
}

/// The venue's sequence, its balances and the order that changed, in one transaction.
async fn save_in(
    db: &Db,
    venue: &str,
    balances: &BTreeMap<String, Decimal>,
    seq: i64,
    order: Option<(&PaperOrder, &str)>,
    now: i64,
) -> Result<(), DbError> {
    let mut tx = db.begin_write().await?;
    let sql = Sql::new(
        "INSERT INTO paper_venues (venue, last_trade_seq) VALUES ($1, $2) \
         ON CONFLICT (venue) DO UPDATE SET last_trade_seq = excluded.last_trade_seq",
    );
    tx.execute(sql.bind(venue).bind(seq)).await?;
    for (asset, amount) in balances {
        let sql = Sql::new(
            "INSERT INTO paper_balances (venue, asset, amount) VALUES ($1, $2, $3) \
             ON CONFLICT (venue, asset) DO UPDATE SET amount = excluded.amount",
        );
        tx.execute(sql.bind(venue).bind(asset).bind(amount.to_string()))
            .await?;
    }
    if let Some((o, body)) = order {
        let sql = Sql::new(
            "INSERT INTO paper_orders (venue, client_order_id, terminal, body, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (venue, client_order_id) DO UPDATE SET terminal = excluded.terminal, body = excluded.body, \
             updated_at = excluded.updated_at",
        )
        .bind(venue)
        .bind(&o.request.client_order_id)
        .bind(o.report.status.is_terminal())
        .bind(body)
        .bind(now);
        tx.execute(sql).await?;
    }
    tx.commit().await
}
