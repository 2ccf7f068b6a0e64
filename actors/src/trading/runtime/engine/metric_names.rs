//! The trading runtime's metric names, and their descriptions registered at start.

pub const STRATEGIES_LIVE: &str = "strategies_live";
pub const ORDERS_SENT_TOTAL: &str = "orders_sent_total";
pub const PNL_ESTIMATED: &str = "pnl_estimated";
pub const TRADING_TICK_DURATION_SECONDS: &str = "trading_tick_duration_seconds";
pub const TRADING_SLOW_TICKS_TOTAL: &str = "trading_slow_ticks_total";
pub const RISK_REJECTIONS_TOTAL: &str = "risk_rejections_total";
pub const ARBITRAGE_OPPORTUNITIES_TOTAL: &str = "arbitrage_opportunities_total";
pub const STRATEGY_FAULTS_TOTAL: &str = "strategy_faults_total";
pub const TRADING_UNVALUED_FEES_TOTAL: &str = "trading_unvalued_fees_total";

pub fn describe_metrics() {
    metrics::describe_gauge!(STRATEGIES_LIVE, "Strategies running (live or paused).");
    // Registered (+0, the value untouched) so the gauge is exported from boot.
    metrics::gauge!(STRATEGIES_LIVE).increment(0.0);
    metrics::describe_counter!(ORDERS_SENT_TOTAL, "Orders sent to a venue.");
    metrics::describe_gauge!(
        PNL_ESTIMATED,
        "Realised + unrealised PnL of a strategy in its quote currency, exit fees estimated."
    );
    metrics::describe_histogram!(
        TRADING_TICK_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Run time of one strategy tick."
    );
    metrics::describe_counter!(
        TRADING_SLOW_TICKS_TOTAL,
        "Ticks skipped because the previous tick of the strategy was still running."
    );
    metrics::describe_counter!(
        STRATEGY_FAULTS_TOTAL,
        "Strategies moved to `faulted` (venue errors or crash loops); each needs a new deploy."
    );
    // From boot, so `increase()` sees the first fault (a series born at 1 shows no increase).
    metrics::counter!(STRATEGY_FAULTS_TOTAL).increment(0);
    metrics::describe_counter!(RISK_REJECTIONS_TOTAL, "Intents the risk gate refused.");
    // The daily loss limit is alerted on (deploy/prometheus/rules.yml): its series exists from boot.
    metrics::counter!(RISK_REJECTIONS_TOTAL, "reason" => "daily_loss_limit").increment(0);
    metrics::describe_counter!(
        TRADING_UNVALUED_FEES_TOTAL,
        "Fills whose fee was charged in an asset the venue had no price for (not in PnL)."
    );
    metrics::describe_counter!(
        ARBITRAGE_OPPORTUNITIES_TOTAL,
        "Cross-venue opportunities that beat fees at depth."
    );
}
