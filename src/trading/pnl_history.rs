//! Realised PnL over time, replayed from the stored fills: each fill is applied to its
//! position (strategy, venue, symbol) exactly as the trading runtime applied it, so the last
//! point equals the realised PnL `/v1/trading/pnl` shows from the positions table.

use crate::db::{Db, DbError, Sql};
use actors::trading::pnl::Position;
use actors::trading::types::{Side, split_symbol};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

/// Which fills count, and the window the curve covers.
#[derive(Debug, Clone, Default)]
pub struct PnlWindow {
    pub strategy_id: Option<String>,
    /// The curve starts at zero here: PnL realised before it is not counted.
    pub from: Option<DateTime<Utc>>,
    /// Inclusive.
    pub to: Option<DateTime<Utc>>,
}

/// A curve per quote currency (no FX conversion), ordered by time.
pub type PnlCurves = BTreeMap<String, Vec<(DateTime<Utc>, Decimal)>>;

#[derive(sqlx::FromRow)]
struct FillRow {
    strategy_id: String,
    venue: String,
    symbol: String,
    side: String,
    qty: String,
    price: String,
    fee: String,
    /// NULL on fills recorded before fee assets were: those fees were in the quote asset.
    fee_amount: Option<String>,
    fee_asset: Option<String>,
    ts: i64,
}

/// Cumulative realised PnL (fees included) per quote currency, one point per fill in the
/// window, starting with zero at `from` (or at the first fill) and held until `to` or `now`,
/// whichever is earlier. Fills before `from` are replayed too: a position opened before the
/// window and closed inside it needs its entry price.
#[tracing::instrument(skip_all, fields(strategy = ?w.strategy_id))]
pub async fn cumulative_realised(
    db: &Db,
    w: &PnlWindow,
    now: DateTime<Utc>,
) -> Result<PnlCurves, DbError> {
    let to_ms = w.to.map(|t| t.timestamp_millis());
    let sql = Sql::new(
        "SELECT strategy_id, venue, symbol, side, qty, price, fee, fee_amount, fee_asset, ts FROM fills \
         WHERE ($1 IS NULL OR strategy_id = $1) AND ($2 IS NULL OR ts <= $2) \
         ORDER BY ts, venue, trade_id",
    )
    .bind(w.strategy_id.as_deref())
    .bind(to_ms);
    let rows: Vec<FillRow> = db.fetch_all(sql).await?;
    replay(&rows, w, now)
}

fn replay(rows: &[FillRow], w: &PnlWindow, now: DateTime<Utc>) -> Result<PnlCurves, DbError> {
    let from_ms = w.from.map(|t| t.timestamp_millis());
    let mut positions: HashMap<(&str, &str, &str), Position> = HashMap::new();
    // Per currency: realised since `from`, and the curve.
    let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut curves = PnlCurves::new();
    for r in rows {
        let side = Side::parse(&r.side).ok_or_else(|| stored("side", &r.side))?;
        let (qty, price, fee) = (
            decimal("qty", &r.qty)?,
            decimal("price", &r.price)?,
            decimal("fee", &r.fee)?,
        );
        let position = positions
            .entry((&r.strategy_id, &r.venue, &r.symbol))
            .or_default();
        let before = position.realised;
        position.apply(side, qty, price, fee);
        // As the runtime does: a fee kept in the base asset shrinks the holding.
        if let (Some(asset), Some(amount)) = (&r.fee_asset, &r.fee_amount)
            && split_symbol(&r.symbol).is_some_and(|(base, _)| base == asset)
        {
            position.deduct_base_fee(decimal("fee_amount", amount)?);
        }
        if from_ms.is_some_and(|from| r.ts < from) {
            continue;
        }
        let currency = split_symbol(&r.symbol).map_or(r.symbol.as_str(), |(_, quote)| quote);
        let at = DateTime::from_timestamp_millis(r.ts).unwrap_or_default();
        let curve = curves
            .entry(currency.to_owned())
            .or_insert_with(|| vec![(w.from.unwrap_or(at), Decimal::ZERO)]);
        let total = totals.entry(currency.to_owned()).or_default();
        *total += position.realised - before;
        curve.push((at, *total));
    }
    // The value holds after the last fill: draw it to the end of the window.
    let end = w.to.map_or(now, |to| to.min(now));
    for curve in curves.values_mut() {
        if let Some(&(last_at, last)) = curve.last()
            && end > last_at
        {
            curve.push((end, last));
        }
    }
    Ok(curves)
}

fn decimal(column: &str, v: &str) -> Result<Decimal, DbError> {
    Decimal::from_str(v).map_err(|_| stored(column, v))
}

/// A stored value that does not decode is an error, never a guess.
fn stored(column: &str, v: &str) -> DbError {
    DbError::Query(sqlx::Error::Decode(
        format!("fills.{column}: stored value `{v}`").into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn fill(strategy: &str, symbol: &str, side: &str, qty: &str, price: &str, ts: i64) -> FillRow {
        FillRow {
            strategy_id: strategy.into(),
            venue: "paper".into(),
            symbol: symbol.into(),
            side: side.into(),
            qty: qty.into(),
            price: price.into(),
            fee: "0.1".into(),
            fee_amount: None,
            fee_asset: None,
            ts,
        }
    }

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap_or_default()
    }

    #[test]
    fn the_curve_steps_at_each_fill_and_holds_to_now() {
        let rows = [
            fill("s1", "BTC-USDT", "buy", "1", "100", 1_000),
            fill("s1", "BTC-USDT", "sell", "1", "110", 2_000),
        ];
        let curves = replay(&rows, &PnlWindow::default(), t(5_000)).expect("replays");
        assert_eq!(
            curves["USDT"],
            vec![
                (t(1_000), dec!(0)),
                (t(1_000), dec!(-0.1)),
                (t(2_000), dec!(9.8)),
                (t(5_000), dec!(9.8)),
            ]
        );
    }

    #[test]
    fn a_window_counts_from_zero_but_knows_earlier_entries() {
        // Bought before the window; the sale inside it realises 10 − 0.1 fee.
        let rows = [
            fill("s1", "BTC-EUR", "buy", "1", "100", 1_000),
            fill("s1", "BTC-EUR", "sell", "1", "110", 3_000),
        ];
        let w = PnlWindow {
            from: Some(t(2_000)),
            to: Some(t(4_000)),
            ..PnlWindow::default()
        };
        let curves = replay(&rows, &w, t(9_000)).expect("replays");
        assert_eq!(
            curves["EUR"],
            vec![
                (t(2_000), dec!(0)),
                (t(3_000), dec!(9.9)),
                (t(4_000), dec!(9.9))
            ]
        );
    }

    #[test]
    fn currencies_and_positions_are_kept_apart() {
        let rows = [
            fill("s1", "BTC-USDT", "buy", "1", "100", 1_000),
            fill("s2", "BTC-USDT", "sell", "1", "120", 1_500),
            fill("s1", "ETH-EUR", "buy", "2", "10", 2_000),
        ];
        let curves = replay(&rows, &PnlWindow::default(), t(2_000)).expect("replays");
        assert_eq!(curves.keys().collect::<Vec<_>>(), ["EUR", "USDT"]);
        // s2's sale opens a short: nothing realised but its fee.
        assert_eq!(curves["USDT"].last().map(|p| p.1), Some(dec!(-0.2)));
    }

    #[test]
    fn a_stored_value_that_does_not_decode_is_an_error() {
        let rows = [fill("s1", "BTC-USDT", "hold", "1", "100", 1_000)];
        assert!(replay(&rows, &PnlWindow::default(), t(1)).is_err());
    }
}
