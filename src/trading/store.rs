//! [`TradingStore`] on SQLite/Postgres: the queries (the row types are in `rows.rs`).
//! Decimals are stored as strings; each write that carries an audit row or an event does so
//! in the same transaction.

use crate::db::{Arg, Db, DbError, DbHandle, Sql, Tx};
use crate::events::{Staged, stage, stage_in};
use actors::events::{StrategyStateChanged, TradeExecuted};
use actors::ports::DependencyError;
use actors::trading::fsm::StrategyState;
use actors::trading::runtime::{
    FillRecord, OrderRecord, PositionRecord, StrategySpec, StrategyStatus, TickRecord,
    TradingStore, TransitionRecord,
};
use actors::trading::types::{Liquidity, OrderKind};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use super::rows::{ORDER_COLUMNS, OrderRow, PositionRow, STRATEGY_COLUMNS, StrategyRow};
pub(crate) use super::rows::{dec, text};

pub struct SqlTradingStore(pub DbHandle);

use crate::db::port_error as dep;

impl SqlTradingStore {
    fn db(&self) -> Result<Db, DependencyError> {
        self.0.port()
    }
}

fn kind_parts(kind: OrderKind) -> (&'static str, Option<String>) {
    match kind {
        OrderKind::Market => ("market", None),
        OrderKind::Limit { price } => ("limit", Some(text(price))),
    }
}

fn liquidity(l: Liquidity) -> &'static str {
    match l {
        Liquidity::Maker => "maker",
        Liquidity::Taker => "taker",
    }
}

pub async fn strategy_row(db: &Db, id: &str) -> Result<Option<StrategyRow>, DbError> {
    let sql = format!("SELECT {STRATEGY_COLUMNS} FROM strategies WHERE id = $1");
    db.fetch_optional(Sql::new(sql).bind(id)).await
}

pub async fn position_rows(db: &Db, strategy_id: &str) -> Result<Vec<PositionRow>, DbError> {
    let sql = "SELECT strategy_id, venue, symbol, qty, avg_price, realised, fees_paid, mark_price, updated_at \
               FROM positions WHERE strategy_id = $1 ORDER BY venue, symbol";
    db.fetch_all(Sql::new(sql).bind(strategy_id)).await
}

const UPSERT_POSITION: &str = "INSERT INTO positions (strategy_id, venue, symbol, qty, avg_price, realised, fees_paid, mark_price, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (strategy_id, venue, symbol) DO UPDATE SET \
    qty = excluded.qty, avg_price = excluded.avg_price, realised = excluded.realised, fees_paid = excluded.fees_paid, \
    mark_price = COALESCE(excluded.mark_price, positions.mark_price), updated_at = excluded.updated_at";

#[async_trait]
impl TradingStore for SqlTradingStore {
    #[tracing::instrument(skip_all, fields(strategy = strategy_id))]
    async fn load(
        &self,
        strategy_id: &str,
    ) -> Result<Option<(StrategySpec, StrategyStatus)>, DependencyError> {
        let db = self.db()?;
        let Some(row) = strategy_row(&db, strategy_id).await.map_err(dep)? else {
            return Ok(None);
        };
        Ok(Some((row.spec()?, row.status()?)))
    }

    async fn running(&self) -> Result<Vec<(String, StrategyState)>, DependencyError> {
        let db = self.db()?;
        let rows: Vec<(String, String)> = db
            .fetch_all(
                "SELECT id, state FROM strategies WHERE state IN ('live', 'paused') ORDER BY id",
            )
            .await
            .map_err(dep)?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, s)| StrategyState::parse(&s).map(|s| (id, s)))
            .collect())
    }

    #[tracing::instrument(skip_all, fields(strategy = %t.strategy_id, from = t.from.as_str(), to = t.to.as_str(), trace_id = %t.trace_id))]
    async fn transition(&self, t: &TransitionRecord) -> Result<bool, DependencyError> {
        let db = self.db()?;
        let sql = Sql::new("SELECT name FROM strategies WHERE id = $1").bind(&t.strategy_id);
        let name: Option<String> = db.fetch_scalar_optional(sql).await.map_err(dep)?;
        let Some(name) = name else {
            return Ok(false);
        };
        let event = stage(
            &StrategyStateChanged {
                strategy_id: t.strategy_id.clone(),
                name: name.clone(),
                from: t.from.as_str().to_owned(),
                to: t.to.as_str().to_owned(),
                cause: t.cause.clone(),
                reason: t.reason.clone(),
                trace_id: t.trace_id.clone(),
            },
            &t.trace_id,
        )
        .map_err(dep)?;
        transition_in(&db, t, &name, &event).await.map_err(dep)
    }

    #[tracing::instrument(skip_all, fields(order = %o.client_order_id, trace_id = %o.trace_id))]
    async fn insert_order(&self, o: &OrderRecord) -> Result<(), DependencyError> {
        let db = self.db()?;
        let (order_type, limit) = kind_parts(o.kind);
        let args: Vec<Arg<'_>> = vec![
            (&o.client_order_id).into(),
            (&o.strategy_id).into(),
            (&o.venue).into(),
            (&o.symbol).into(),
            o.side.as_str().into(),
            order_type.into(),
            limit.into(),
            text(o.qty).into(),
            text(o.filled_qty).into(),
            o.avg_fill_price.map(text).into(),
            text(o.fees).into(),
            o.status.as_str().into(),
            (&o.venue_order_id).into(),
            (&o.reason).into(),
            (&o.tag).into(),
            o.trace_id.as_str().into(),
            o.created_ms.into(),
            o.updated_ms.into(),
        ];
        // `write_batch`: on SQLite on this thread (no hand-over), the first write of every order.
        db.write_batch(vec![Sql::insert_values("orders", ORDER_COLUMNS, args)])
            .await
            .map_err(dep)
    }

    #[tracing::instrument(skip_all, fields(order = %o.client_order_id, status = o.status.as_str()))]
    async fn update_order(&self, o: &OrderRecord) -> Result<(), DependencyError> {
        let db = self.db()?;
        db.write_batch(vec![update_order_sql(o)]).await.map_err(dep)
    }

    #[tracing::instrument(skip_all, fields(trade_id = %f.trade_id, venue = %f.venue, trace_id = %f.trace_id))]
    async fn record_fill(
        &self,
        f: &FillRecord,
        pos: &PositionRecord,
    ) -> Result<bool, DependencyError> {
        let db = self.db()?;
        let event = trade_executed(f).map_err(dep)?;
        let now = chrono::Utc::now().timestamp_millis();
        let mut tx = db.begin_write().await.map_err(dep)?;
        if !fill_in(&mut tx, f, pos, &event, now).await.map_err(dep)? {
            tx.rollback().await.map_err(dep)?;
            return Ok(false);
        }
        tx.commit().await.map_err(dep)?;
        Ok(true)
    }

    #[tracing::instrument(skip_all, fields(order = %order.client_order_id, fills = fills.len(), trace_id = %order.trace_id))]
    async fn record_fills_and_order(
        &self,
        fills: &[(FillRecord, PositionRecord)],
        order: &OrderRecord,
    ) -> Result<bool, DependencyError> {
        let db = self.db()?;
        let events = fills
            .iter()
            .map(|(f, _)| trade_executed(f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(dep)?;
        let now = chrono::Utc::now().timestamp_millis();
        // A fill recorded before fails its plain INSERT on the primary key: the whole batch
        // rolls back and the caller records the fills one by one.
        match db
            .write_batch(fills_and_order_sql(fills, &events, order, now))
            .await
        {
            Ok(()) => Ok(true),
            Err(DbError::Conflict { .. }) => Ok(false),
            Err(e) => Err(dep(e)),
        }
    }

    async fn open_orders(&self, strategy_id: &str) -> Result<Vec<OrderRecord>, DependencyError> {
        let db = self.db()?;
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE strategy_id = $1 AND status IN ('pending_submit', 'open', 'partially_filled') ORDER BY created_at"
        );
        let rows: Vec<OrderRow> = db
            .fetch_all(Sql::new(sql).bind(strategy_id))
            .await
            .map_err(dep)?;
        rows.iter().map(OrderRow::record).collect()
    }

    async fn positions(&self, strategy_id: &str) -> Result<Vec<PositionRecord>, DependencyError> {
        let db = self.db()?;
        position_rows(&db, strategy_id)
            .await
            .map_err(dep)?
            .iter()
            .map(PositionRow::record)
            .collect()
    }

    async fn tick_done(&self, t: &TickRecord) -> Result<(), DependencyError> {
        let db = self.db()?;
        let slow = i64::try_from(t.slow_ticks).unwrap_or(i64::MAX);
        tick_done_in(&db, t, slow).await.map_err(dep)
    }
}

/// The state change, its history row, its audit row and its event, in one transaction.
/// `false` when the version or state moved meanwhile (nothing written).
async fn transition_in(
    db: &Db,
    t: &TransitionRecord,
    name: &str,
    event: &Staged,
) -> Result<bool, DbError> {
    let mut tx = db.begin_write().await?;
    let sql = Sql::new(
        "UPDATE strategies SET state = $1, state_version = state_version + 1, state_since = $2, \
         state_reason = $3, updated_at = $2 WHERE id = $4 AND state_version = $5 AND state = $6",
    )
    .bind(t.to.as_str())
    .bind(t.at_ms)
    .bind(&t.reason)
    .bind(&t.strategy_id)
    .bind(t.expected_version)
    .bind(t.from.as_str());
    if tx.execute(sql).await? == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    let sql = Sql::new(
        "INSERT INTO strategy_transitions (id, strategy_id, from_state, to_state, cause, reason, principal, trace_id, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&t.strategy_id)
    .bind(t.from.as_str())
    .bind(t.to.as_str())
    .bind(&t.cause)
    .bind(&t.reason)
    .bind(&t.principal)
    .bind(t.trace_id.as_str())
    .bind(t.at_ms);
    tx.execute(sql).await?;
    let at = DateTime::<Utc>::from_timestamp_millis(t.at_ms).unwrap_or_else(Utc::now);
    let detail = format!(
        "{} → {} ({}): {}",
        t.from.as_str(),
        t.to.as_str(),
        t.cause,
        t.reason
    );
    let sql = Sql::new(
        "INSERT INTO event_log (id, at, trace_id, principal, action, target, outcome, client_ip, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, 'success', NULL, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(at)
    .bind(t.trace_id.as_str())
    .bind(&t.principal)
    .bind(format!("strategy.{}", t.cause))
    .bind(format!("strategy:{name}"))
    .bind(detail);
    tx.execute(sql).await?;
    stage_in(&mut tx, event).await?;
    tx.commit().await?;
    Ok(true)
}

fn update_order_sql(o: &OrderRecord) -> Sql<'_> {
    let sql = "UPDATE orders SET filled_qty = $1, avg_fill_price = $2, fees = $3, status = $4, \
               venue_order_id = $5, reason = $6, updated_at = $7 WHERE client_order_id = $8";
    Sql::new(sql)
        .bind(text(o.filled_qty))
        .bind(o.avg_fill_price.map(text))
        .bind(text(o.fees))
        .bind(o.status.as_str())
        .bind(&o.venue_order_id)
        .bind(&o.reason)
        .bind(o.updated_ms)
        .bind(&o.client_order_id)
}

fn trade_executed(f: &FillRecord) -> anyhow::Result<Staged> {
    stage(
        &TradeExecuted {
            strategy_id: f.strategy_id.clone(),
            venue: f.venue.clone(),
            trade_id: f.trade_id.clone(),
            client_order_id: f.client_order_id.clone(),
            symbol: f.symbol.clone(),
            side: f.side.as_str().to_owned(),
            quantity: text(f.qty),
            price: text(f.price),
            fee: text(f.fee),
            fee_amount: text(f.fee_amount),
            fee_asset: f.fee_asset.clone(),
            fee_valued: f.fee_valued,
            live: f.live,
            trace_id: f.trace_id.clone(),
        },
        &f.trace_id,
    )
}

/// The fill, the position it moves and its event, inside `tx`. `false` for a fill already
/// recorded (the primary key (venue, trade_id) is the dedupe): nothing was written and the
/// caller rolls back.
async fn fill_in(
    tx: &mut Tx,
    f: &FillRecord,
    pos: &PositionRecord,
    event: &Staged,
    now: i64,
) -> Result<bool, DbError> {
    let mut sql = fill_sql(f);
    sql.push(" ON CONFLICT (venue, trade_id) DO NOTHING");
    if tx.execute(sql).await? == 0 {
        return Ok(false);
    }
    tx.execute(position_sql(f, pos, now)).await?;
    stage_in(tx, event).await?;
    Ok(true)
}

/// [`TradingStore::record_fills_and_order`]'s statements: each fill, its position and its
/// event, then the order. Run with [`Db::write_batch`]: on SQLite one hand-over to SQLite's
/// thread for the whole transaction (the order's decision-to-committed time was mostly such
/// hand-overs, `bench/trading.sh`).
fn fills_and_order_sql<'a>(
    fills: &'a [(FillRecord, PositionRecord)],
    events: &'a [Staged],
    order: &'a OrderRecord,
    now: i64,
) -> Vec<Sql<'a>> {
    let mut statements = Vec::with_capacity(fills.len() * 3 + 1);
    for ((f, pos), event) in fills.iter().zip(events) {
        statements.push(fill_sql(f));
        statements.push(position_sql(f, pos, now));
        statements.push(crate::events::insert_sql(event));
    }
    statements.push(update_order_sql(order));
    statements
}

fn fill_sql(f: &FillRecord) -> Sql<'_> {
    Sql::new(
        "INSERT INTO fills (venue, trade_id, client_order_id, strategy_id, symbol, side, qty, price, fee, liquidity, ts, \
         fee_amount, fee_asset, fee_valued) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&f.venue)
    .bind(&f.trade_id)
    .bind(&f.client_order_id)
    .bind(&f.strategy_id)
    .bind(&f.symbol)
    .bind(f.side.as_str())
    .bind(text(f.qty))
    .bind(text(f.price))
    .bind(text(f.fee))
    .bind(liquidity(f.liquidity))
    .bind(f.ts_ms)
    .bind(text(f.fee_amount))
    .bind(&f.fee_asset)
    .bind(f.fee_valued)
}

fn position_sql<'a>(f: &'a FillRecord, pos: &'a PositionRecord, now: i64) -> Sql<'a> {
    Sql::new(UPSERT_POSITION)
        .bind(&f.strategy_id)
        .bind(&pos.venue)
        .bind(&pos.symbol)
        .bind(text(pos.position.qty))
        .bind(text(pos.position.avg_price))
        .bind(text(pos.position.realised))
        .bind(text(pos.position.fees_paid))
        .bind(pos.mark.map(text))
        .bind(now)
}

/// The tick's counters and marks, in one transaction. On Postgres it commits without
/// waiting for the WAL flush: this is bookkeeping (last tick, counters, marks) written by every
/// strategy every tick, and a crash can lose only the last fraction of a second of it, which
/// the next tick rewrites. Waiting for the flush put 100 strategies' ticks (100 fsyncs a
/// second at 0.7-4 ms each here) in front of their orders' writes (docs/decisions.md,
/// "Trading benchmark on a venue").
async fn tick_done_in(db: &Db, t: &TickRecord, slow: i64) -> Result<(), DbError> {
    let mut statements = Vec::with_capacity(t.marks.len() + 2);
    if db.backend() == crate::config::Backend::Postgres {
        statements.push(Sql::new(
            "SELECT set_config('synchronous_commit', 'off', true)",
        ));
    }
    statements.push(
        Sql::new(
            "UPDATE strategies SET last_tick_at = $1, ticks = ticks + 1, slow_ticks = slow_ticks + $2, \
             pnl_day = $3, pnl_day_start = $4 WHERE id = $5",
        )
        .bind(t.at_ms)
        .bind(slow)
        .bind(t.pnl_day)
        .bind(text(t.pnl_day_start))
        .bind(&t.strategy_id),
    );
    for (venue, symbol, mark) in &t.marks {
        statements.push(
            Sql::new(
                "UPDATE positions SET mark_price = $1 WHERE strategy_id = $2 AND venue = $3 AND symbol = $4",
            )
            .bind(text(*mark))
            .bind(&t.strategy_id)
            .bind(venue)
            .bind(symbol),
        );
    }
    db.write_batch(statements).await
}

/// How many of a strategy's orders are not final yet.
pub async fn open_order_count(db: &Db, strategy_id: &str) -> Result<i64, DbError> {
    let sql = Sql::new(
        "SELECT COUNT(*) FROM orders WHERE strategy_id = $1 \
         AND status IN ('pending_submit', 'open', 'partially_filled')",
    );
    db.fetch_scalar(sql.bind(strategy_id)).await
}

/// Order rows for the API.
pub async fn order_rows(db: &Db, strategy_id: &str, limit: i64) -> Result<Vec<OrderRow>, DbError> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE strategy_id = $1 ORDER BY created_at DESC, client_order_id DESC LIMIT $2"
    );
    db.fetch_all(Sql::new(sql).bind(strategy_id).bind(limit))
        .await
}
