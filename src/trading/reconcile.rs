//! Balance reconciliation (issue 17 item 5): does a real venue hold what our fills say it
//! should?
//!
//! The model. Per venue and asset a *baseline* is stored the first time the asset is checked:
//! the venue's total (free + locked) and the time it was read. The balance we expect is that
//! baseline moved by every fill recorded on the venue with a trade time after it: a buy adds
//! its quantity of the base asset and takes `qty × price` of the quote asset, a sell the
//! reverse, and every fee takes `fee_amount` of the asset it was charged in (quote, base or a
//! third one such as BNB). All strategies on one venue share its account, so all their fills
//! count. Trades made outside the service, deposits and withdrawals show as drift; after such
//! a change is understood, deleting the baseline rows takes a new one.
//!
//! What is checked: the base and quote assets of the symbols of strategies on the venue, and
//! assets with a baseline. Only real venues (a mode other than `paper`, configured): a paper
//! venue's balances are our own book-keeping.
//!
//! Tolerance: `rel × |expected| + max(abs, step size)` (the step size of a symbol that has the
//! asset as its base, when the venue gives rules). Beyond it: `venue_balance_drift{venue,asset}`
//! shows the difference (set on every check), and when an asset first goes out of tolerance
//! `venue_balance_mismatch_total{venue,asset}` counts it, and a `VenueBalanceMismatch` event
//! (outbox, reaching Telegram as kind `balances`) and an audit row are written in one
//! transaction. A persisting mismatch is reported once, again only after it went back within.
//!
//! Confirmed before reported: an asset is reported when two checks in a row find it out of
//! tolerance. One alone is what a fill in flight looks like (the venue's balance already moved,
//! our fill is committed a moment later), and reporting those would teach the owner to
//! ignore the alert. Each check still shows the drift as it found it (API, gauge).

use crate::adapters::venue_metrics::{VENUE_BALANCE_DRIFT, VENUE_BALANCE_MISMATCH_TOTAL};
use crate::db::{Db, DbError, DbHandle, Sql};
use crate::events::{stage, stage_in};
use actors::TraceId;
use actors::events::VenueBalanceMismatch;
use actors::trading::connector::{AssetBalance, Connector};
use actors::trading::types::split_symbol;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub const AUDIT_ACTION: &str = "venue.balance_mismatch";

#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    /// Zero: only on demand.
    pub interval: Duration,
    pub rel_tolerance: Decimal,
    pub abs_tolerance: Decimal,
}

/// One asset's comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetCheck {
    pub actual: Decimal,
    pub expected: Decimal,
    /// `actual − expected`.
    pub drift: Decimal,
    pub tolerance: Decimal,
    pub within_tolerance: bool,
}

/// The last reconciliation of one venue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueCheck {
    pub at_ms: i64,
    pub assets: BTreeMap<String, AssetCheck>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("database not connected")]
    NoDatabase,
    #[error("stored {0}")]
    Stored(String),
    #[error("event: {0}")]
    Event(String),
}

pub struct Reconciler {
    db: DbHandle,
    venues: BTreeMap<String, Arc<dyn Connector>>,
    settings: ReconcileSettings,
    last: Mutex<HashMap<String, VenueCheck>>,
    /// (venue, asset) reported and not back within tolerance since.
    reported: Mutex<BTreeSet<(String, String)>>,
}

#[derive(sqlx::FromRow)]
struct FillRow {
    symbol: String,
    side: String,
    qty: String,
    price: String,
    fee: String,
    fee_amount: Option<String>,
    fee_asset: Option<String>,
}

fn dec(what: &str, v: &str) -> Result<Decimal, ReconcileError> {
    Decimal::from_str(v).map_err(|_| ReconcileError::Stored(format!("{what} `{v}`")))
}

/// How much of `asset` one fill moved at the venue (pure; unit-tested below).
fn fill_delta(asset: &str, f: &FillRow) -> Result<Decimal, ReconcileError> {
    let Some((base, quote)) = split_symbol(&f.symbol) else {
        return Ok(Decimal::ZERO);
    };
    let sign = match f.side.as_str() {
        "buy" => Decimal::ONE,
        "sell" => Decimal::NEGATIVE_ONE,
        other => return Err(ReconcileError::Stored(format!("fills.side `{other}`"))),
    };
    let qty = dec("fills.qty", &f.qty)?;
    let mut delta = Decimal::ZERO;
    if asset == base {
        delta += sign * qty;
    }
    if asset == quote {
        delta -= sign * qty * dec("fills.price", &f.price)?;
    }
    match (&f.fee_asset, &f.fee_amount) {
        (Some(fee_asset), Some(amount)) => {
            if fee_asset == asset {
                delta -= dec("fills.fee_amount", amount)?;
            }
        }
        // Recorded before fee assets were: the fee was in the quote asset.
        _ => {
            if asset == quote {
                delta -= dec("fills.fee", &f.fee)?;
            }
        }
    }
    Ok(delta)
}

/// `rel × |expected| + abs` (pure).
fn tolerance(expected: Decimal, rel: Decimal, abs: Decimal) -> Decimal {
    rel * expected.abs() + abs
}

impl Reconciler {
    pub fn new(
        db: DbHandle,
        venues: BTreeMap<String, Arc<dyn Connector>>,
        settings: ReconcileSettings,
    ) -> Self {
        Self {
            db,
            venues,
            settings,
            last: Mutex::default(),
            reported: Mutex::default(),
        }
    }

    /// The last reconciliation of `venue`, if one ran.
    pub fn last(&self, venue: &str) -> Option<VenueCheck> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(venue)
            .cloned()
    }

    /// Whether `venue` is reconciled at all (a real venue, configured).
    pub fn applies_to(conn: &dyn Connector) -> bool {
        matches!(conn.mode(), "sandbox" | "live")
    }

    /// Runs every `interval` (from one interval after start) for the life of the runtime.
    pub fn start(self: Arc<Self>) {
        if self.settings.interval.is_zero() {
            return;
        }
        tokio::spawn(async move {
            let mut every = tokio::time::interval(self.settings.interval);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                self.run_once().await;
            }
        });
    }

    /// Checks every real venue once (errors are logged: the next round tries again).
    pub async fn run_once(&self) {
        for (name, conn) in &self.venues {
            if !Self::applies_to(conn.as_ref()) {
                continue;
            }
            let asked_at = Utc::now().timestamp_millis();
            let sheet = match conn.balance_sheet().await {
                Ok(sheet) => sheet,
                Err(e) => {
                    tracing::info!(venue = %name, error = %e, "balances not reconciled this round: venue unavailable");
                    continue;
                }
            };
            if let Err(e) = self.check(name, &sheet, asked_at).await {
                tracing::warn!(venue = %name, error = %e, "balance reconciliation failed");
            }
        }
    }

    /// Compares `sheet` (read at `asked_at_ms`) with what our fills imply, records it as the
    /// venue's last check and reports assets that went out of tolerance.
    #[tracing::instrument(skip_all, fields(venue = %venue))]
    pub async fn check(
        &self,
        venue: &str,
        sheet: &BTreeMap<String, AssetBalance>,
        asked_at_ms: i64,
    ) -> Result<VenueCheck, ReconcileError> {
        let db = self.db.port().map_err(|_| ReconcileError::NoDatabase)?;
        let assets = self.assets(&db, venue).await?;
        let mut baselines = self.baselines(&db, venue).await?;
        let steps = self.step_sizes(venue, &db).await;
        let mut checks = BTreeMap::new();
        for asset in assets {
            let actual = sheet.get(&asset).map_or(Decimal::ZERO, AssetBalance::total);
            let (amount, taken_at) = match baselines.get(&asset) {
                Some(b) => *b,
                None => {
                    // First look at this asset: what the venue holds now is the baseline.
                    let sql = Sql::new(
                        "INSERT INTO venue_balance_baselines (venue, asset, amount, taken_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (venue, asset) DO NOTHING",
                    )
                    .bind(venue)
                    .bind(asset.as_str())
                    .bind(actual.normalize().to_string())
                    .bind(asked_at_ms);
                    db.execute(sql).await?;
                    // Another process may have written one first: use what is stored.
                    baselines = self.baselines(&db, venue).await?;
                    baselines
                        .get(&asset)
                        .copied()
                        .unwrap_or((actual, asked_at_ms))
                }
            };
            let expected = amount + self.moved_since(&db, venue, &asset, taken_at).await?;
            let drift = actual - expected;
            let abs = steps
                .get(&asset)
                .copied()
                .unwrap_or(Decimal::ZERO)
                .max(self.settings.abs_tolerance);
            let tolerance = tolerance(expected, self.settings.rel_tolerance, abs);
            checks.insert(
                asset,
                AssetCheck {
                    actual: actual.normalize(),
                    expected: expected.normalize(),
                    drift: drift.normalize(),
                    tolerance: tolerance.normalize(),
                    within_tolerance: drift.abs() <= tolerance,
                },
            );
        }
        let check = VenueCheck {
            at_ms: asked_at_ms,
            assets: checks,
        };
        let previous = {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            last.insert(venue.to_owned(), check.clone())
        };
        for (asset, c) in &check.assets {
            metrics::gauge!(VENUE_BALANCE_DRIFT, "venue" => venue.to_owned(), "asset" => asset.clone())
                .set(c.drift.to_f64().unwrap_or(f64::NAN));
            let was_out = previous
                .as_ref()
                .and_then(|p| p.assets.get(asset))
                .is_some_and(|p| !p.within_tolerance);
            let key = (venue.to_owned(), asset.clone());
            let reported = self
                .reported
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&key);
            if c.within_tolerance {
                if reported {
                    tracing::info!(venue, %asset, "venue balance back within tolerance");
                    self.reported
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&key);
                }
            } else if was_out && !reported {
                self.report(&db, venue, asset, c, asked_at_ms).await?;
                self.reported
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key);
            } else if !was_out {
                tracing::info!(venue, %asset, drift = %c.drift, "venue balance out of tolerance once; reported if the next check agrees");
            }
        }
        Ok(check)
    }

    /// Counter, event and audit row for an asset that just went out of tolerance.
    async fn report(
        &self,
        db: &Db,
        venue: &str,
        asset: &str,
        c: &AssetCheck,
        at_ms: i64,
    ) -> Result<(), ReconcileError> {
        metrics::counter!(VENUE_BALANCE_MISMATCH_TOTAL, "venue" => venue.to_owned(), "asset" => asset.to_owned())
            .increment(1);
        tracing::warn!(venue, asset, actual = %c.actual, expected = %c.expected, drift = %c.drift, tolerance = %c.tolerance, "venue balance differs from what our fills imply");
        let trace_id = TraceId::new(format!("reconcile-{}", uuid::Uuid::now_v7()));
        let event = stage(
            &VenueBalanceMismatch {
                venue: venue.to_owned(),
                asset: asset.to_owned(),
                actual: c.actual.to_string(),
                expected: c.expected.to_string(),
                drift: c.drift.to_string(),
                tolerance: c.tolerance.to_string(),
                checked_at_ms: at_ms,
                trace_id: trace_id.clone(),
            },
            &trace_id,
        )
        .map_err(|e| ReconcileError::Event(e.to_string()))?;
        let mut tx = db.begin_write().await?;
        let at = DateTime::<Utc>::from_timestamp_millis(at_ms).unwrap_or_else(Utc::now);
        let sql = Sql::new(
            "INSERT INTO event_log (id, at, trace_id, principal, action, target, outcome, client_ip, detail) \
             VALUES ($1, $2, $3, 'service:trading', $4, $5, 'failure', NULL, $6)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(at)
        .bind(trace_id.as_str())
        .bind(AUDIT_ACTION)
        .bind(format!("venue:{venue}:{asset}"))
        .bind(format!(
            "holds {} {asset}, fills imply {} (difference {}, tolerance {})",
            c.actual, c.expected, c.drift, c.tolerance
        ));
        tx.execute(sql).await?;
        stage_in(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Base and quote assets of the strategies on `venue`, and assets with a baseline there.
    async fn assets(&self, db: &Db, venue: &str) -> Result<BTreeSet<String>, ReconcileError> {
        let rows: Vec<(String,)> = db
            .fetch_all(Sql::new("SELECT symbols FROM strategies WHERE connector = $1").bind(venue))
            .await?;
        let mut out = BTreeSet::new();
        for (symbols,) in rows {
            let symbols: Vec<String> = serde_json::from_str(&symbols)
                .map_err(|_| ReconcileError::Stored(format!("strategies.symbols `{symbols}`")))?;
            for s in &symbols {
                if let Some((base, quote)) = split_symbol(s) {
                    out.insert(base.to_owned());
                    out.insert(quote.to_owned());
                }
            }
        }
        out.extend(self.baselines(db, venue).await?.into_keys());
        Ok(out)
    }

    async fn baselines(
        &self,
        db: &Db,
        venue: &str,
    ) -> Result<BTreeMap<String, (Decimal, i64)>, ReconcileError> {
        let rows: Vec<(String, String, i64)> = db
            .fetch_all(
                Sql::new(
                    "SELECT asset, amount, taken_at FROM venue_balance_baselines WHERE venue = $1",
                )
                .bind(venue),
            )
            .await?;
        rows.into_iter()
            .map(|(asset, amount, at)| {
                Ok((asset, (dec("venue_balance_baselines.amount", &amount)?, at)))
            })
            .collect()
    }

    /// What the fills on `venue` traded after `since_ms` moved of `asset`.
    async fn moved_since(
        &self,
        db: &Db,
        venue: &str,
        asset: &str,
        since_ms: i64,
    ) -> Result<Decimal, ReconcileError> {
        let rows: Vec<FillRow> = db
            .fetch_all(
                Sql::new(
                    "SELECT symbol, side, qty, price, fee, fee_amount, fee_asset FROM fills \
                     WHERE venue = $1 AND ts > $2",
                )
                .bind(venue)
                .bind(since_ms),
            )
            .await?;
        rows.iter().map(|f| fill_delta(asset, f)).sum()
    }

    /// Step sizes of the base assets of the venue's strategies' symbols (rules the venue
    /// cannot give now are left out: the configured absolute tolerance applies).
    async fn step_sizes(&self, venue: &str, db: &Db) -> BTreeMap<String, Decimal> {
        let mut out = BTreeMap::new();
        let Some(conn) = self.venues.get(venue) else {
            return out;
        };
        let rows: Vec<(String,)> = db
            .fetch_all(Sql::new("SELECT symbols FROM strategies WHERE connector = $1").bind(venue))
            .await
            .unwrap_or_default();
        let symbols: BTreeSet<String> = rows
            .iter()
            .filter_map(|(s,)| serde_json::from_str::<Vec<String>>(s).ok())
            .flatten()
            .collect();
        for symbol in symbols {
            let Some((base, _)) = split_symbol(&symbol) else {
                continue;
            };
            if let Ok(rules) = conn.symbol_rules(&symbol).await {
                let step = out.entry(base.to_owned()).or_insert(Decimal::ZERO);
                *step = (*step).max(rules.step_size);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn fill(side: &str, qty: &str, price: &str, fee: (&str, Option<&str>)) -> FillRow {
        FillRow {
            symbol: "BTC-USDT".into(),
            side: side.into(),
            qty: qty.into(),
            price: price.into(),
            fee: "0.1".into(),
            fee_amount: fee.1.map(|_| fee.0.to_owned()),
            fee_asset: fee.1.map(str::to_owned),
        }
    }

    #[test]
    fn fills_move_base_quote_and_the_fee_asset() {
        // Buy 1 @ 100, fee 0.001 BTC: +0.999 BTC, −100 USDT.
        let buy = fill("buy", "1", "100", ("0.001", Some("BTC")));
        assert_eq!(fill_delta("BTC", &buy).expect("ok"), dec!(0.999));
        assert_eq!(fill_delta("USDT", &buy).expect("ok"), dec!(-100));
        // Sell 1 @ 110, fee 0.0002 BNB: −1 BTC, +110 USDT, −0.0002 BNB.
        let sell = fill("sell", "1", "110", ("0.0002", Some("BNB")));
        assert_eq!(fill_delta("BTC", &sell).expect("ok"), dec!(-1));
        assert_eq!(fill_delta("USDT", &sell).expect("ok"), dec!(110));
        assert_eq!(fill_delta("BNB", &sell).expect("ok"), dec!(-0.0002));
        // A fill from before fee assets were recorded: its `fee` was in the quote asset.
        let old = fill("buy", "1", "100", ("", None));
        assert_eq!(fill_delta("USDT", &old).expect("ok"), dec!(-100.1));
        assert_eq!(fill_delta("BTC", &old).expect("ok"), dec!(1));
        assert!(fill_delta("BTC", &fill("hold", "1", "1", ("", None))).is_err());
    }

    #[test]
    fn tolerance_is_relative_plus_absolute() {
        assert_eq!(
            tolerance(dec!(-200), dec!(0.001), dec!(0.00001)),
            dec!(0.20001)
        );
        assert_eq!(tolerance(dec!(0), dec!(0.001), dec!(0.01)), dec!(0.01));
    }
}
