//! Notifications: one subscriber per event type on the bus (fed by the outbox relay, at
//! least once), fanned out to every linked user by their preferences, deduplicated per event
//! and recipient in the database — a replay after a restart sends nothing twice.

use super::prefs::{self, Level, NotificationKind};
use super::store;
use crate::db::DbHandle;
use actors::events::{
    ArbitrageOpportunityFound, Event, EventBus, JobFailed, StrategyStateChanged, TradeExecuted,
    TransactionSynced, VenueBalanceMismatch,
};
use actors::supervise::ActorRef;
use actors::telegram::TelegramActor;
use actors::telegram::ports::Reply;
use actors::telegram::text::escape_html as esc;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Arbitrage opportunities: at most one message per strategy and symbol per this long.
const ARBITRAGE_EVERY: Duration = Duration::from_secs(300);

/// New transactions announced with category buttons per event, at most.
const MAX_TAPS_PER_EVENT: usize = 10;

#[derive(Clone)]
pub struct Notifier {
    db: DbHandle,
    actor: ActorRef<TelegramActor>,
    throttle: Arc<Mutex<HashMap<String, Instant>>>,
    /// Transactions of at least this absolute amount get category buttons.
    min_amount: rust_decimal::Decimal,
}

/// The event's identity: its type and its payload (a replayed outbox row is identical).
fn event_key<E: Event>(e: &E) -> String {
    let mut h = Sha256::new();
    h.update(E::TYPE.as_bytes());
    h.update(serde_json::to_vec(e).unwrap_or_default());
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What to say about an event, if anything, and under which kind.
pub trait Notifiable: Event {
    fn message(&self) -> Option<(NotificationKind, String)>;
}

impl Notifiable for TradeExecuted {
    fn message(&self) -> Option<(NotificationKind, String)> {
        Some((
            NotificationKind::Trades,
            format!(
                "{} <b>{}</b> {} @ {} on {} (fee {}){}",
                if self.side.eq_ignore_ascii_case("buy") {
                    "🟢 Bought"
                } else {
                    "🔴 Sold"
                },
                esc(&self.quantity),
                esc(&self.symbol),
                esc(&self.price),
                esc(&self.venue),
                esc(&fee_text(self)),
                if self.live { " — LIVE" } else { "" }
            ),
        ))
    }
}

/// The fee as charged (`0.001 BTC`), saying when it could not be valued in the quote asset.
fn fee_text(t: &TradeExecuted) -> String {
    if t.fee_asset.is_empty() {
        return t.fee.clone();
    }
    if t.fee_valued {
        format!("{} {}", t.fee_amount, t.fee_asset)
    } else {
        format!("{} {}, not valued", t.fee_amount, t.fee_asset)
    }
}

impl Notifiable for StrategyStateChanged {
    fn message(&self) -> Option<(NotificationKind, String)> {
        // Faults and restarts are news; the user's own commands are answered in the chat.
        (self.to == "faulted" || self.cause == "restart").then(|| {
            (
                NotificationKind::Strategies,
                format!(
                    "⚠️ Strategy <b>{}</b>: {} → <b>{}</b> ({}): {}",
                    esc(&self.name),
                    esc(&self.from),
                    esc(&self.to),
                    esc(&self.cause),
                    esc(&self.reason)
                ),
            )
        })
    }
}

impl Notifiable for ArbitrageOpportunityFound {
    fn message(&self) -> Option<(NotificationKind, String)> {
        Some((
            NotificationKind::Arbitrage,
            format!(
                "Arbitrage {}: buy {} @ {}, sell {} @ {}, net {} ({} bps){}",
                esc(&self.symbol),
                esc(&self.buy_venue),
                esc(&self.buy_vwap),
                esc(&self.sell_venue),
                esc(&self.sell_vwap),
                esc(&self.net_profit),
                esc(&self.net_bps),
                if self.executed { " — executed" } else { "" }
            ),
        ))
    }
}

impl Notifiable for TransactionSynced {
    fn message(&self) -> Option<(NotificationKind, String)> {
        (self.count > 0).then(|| {
            (
                NotificationKind::Transactions,
                format!("🏦 {} new or updated transactions imported.", self.count),
            )
        })
    }
}

impl Notifiable for VenueBalanceMismatch {
    fn message(&self) -> Option<(NotificationKind, String)> {
        Some((
            NotificationKind::Balances,
            format!(
                "⚖️ <b>{}</b> holds {} {} but our fills imply {} (difference {}, tolerance {}). \
                 A trade outside the service, a missed fill or a fee we did not count?",
                esc(&self.venue),
                esc(&self.actual),
                esc(&self.asset),
                esc(&self.expected),
                esc(&self.drift),
                esc(&self.tolerance),
            ),
        ))
    }
}

impl Notifiable for JobFailed {
    fn message(&self) -> Option<(NotificationKind, String)> {
        self.dead.then(|| {
            (
                NotificationKind::Jobs,
                format!(
                    "❌ Job {}/{} failed for good: {}",
                    esc(&self.queue),
                    esc(&self.name),
                    esc(&self.error.chars().take(300).collect::<String>())
                ),
            )
        })
    }
}

impl Notifier {
    pub fn new(
        db: DbHandle,
        actor: ActorRef<TelegramActor>,
        min_amount: rust_decimal::Decimal,
    ) -> Self {
        Self {
            db,
            actor,
            throttle: Arc::default(),
            min_amount,
        }
    }

    /// Starts one subscriber per event type (for the life of the runtime).
    pub fn start(self, bus: &EventBus) {
        self.clone().subscribe::<TradeExecuted>(bus);
        self.clone().subscribe::<StrategyStateChanged>(bus);
        self.clone().subscribe::<ArbitrageOpportunityFound>(bus);
        self.clone().subscribe::<TransactionSynced>(bus);
        self.clone().subscribe::<JobFailed>(bus);
        self.clone().subscribe::<VenueBalanceMismatch>(bus);
        self.subscribe_taps(bus);
    }

    /// Large new uncategorized transactions, each with its top suggested categories.
    fn subscribe_taps(self, bus: &EventBus) {
        let mut sub = bus.subscribe::<TransactionSynced>();
        actix_web::rt::spawn(async move {
            while let Some(event) = sub.recv().await {
                let key = event_key(&event);
                if let Err(e) = self.taps(&key, &event).await {
                    tracing::warn!(error = %e, "category buttons not sent");
                }
            }
        });
    }

    async fn taps(&self, key: &str, event: &TransactionSynced) -> anyhow::Result<()> {
        let db = self.db.port()?;
        let mut shown = 0;
        for id in &event.transaction_ids {
            if shown == MAX_TAPS_PER_EVENT {
                break;
            }
            let Some(row) = crate::finance::transactions::get(&db, id).await? else {
                continue;
            };
            let amount = crate::finance::money::from_e4(row.amount_e4);
            if row.category_id.is_some() || amount.abs() < self.min_amount {
                continue;
            }
            shown += 1;
            let tap = super::finance::category_tap(&db, &row).await?;
            for link in store::links(&db).await? {
                // Only those who may categorize get buttons (PATCH needs trader).
                if link.disabled || !matches!(link.role.as_str(), "trader" | "admin") {
                    continue;
                }
                let stored = store::preferences(&db, &link.user_id).await?;
                let level = prefs::effective(&stored)
                    .into_iter()
                    .find(|(k, _)| *k == NotificationKind::Transactions)
                    .map_or(Level::On, |(_, l)| l);
                if level == Level::Off
                    || !store::claim_notification(
                        &db,
                        &format!("{key}:{}", row.id),
                        link.telegram_user_id,
                    )
                    .await?
                {
                    continue;
                }
                let _ = self
                    .actor
                    .send(actors::telegram::Notify {
                        chat_id: link.chat_id,
                        telegram_user_id: link.telegram_user_id,
                        reply: tap.clone(),
                        silent: level == Level::Silent,
                    })
                    .await;
            }
        }
        Ok(())
    }

    fn subscribe<E: Notifiable>(self, bus: &EventBus) {
        let mut sub = bus.subscribe::<E>();
        actix_web::rt::spawn(async move {
            while let Some(event) = sub.recv().await {
                if let Some((kind, text)) = event.message() {
                    if kind == NotificationKind::Arbitrage && !self.arbitrage_due(&event) {
                        continue;
                    }
                    if let Err(e) = self.fan_out(&event_key(&event), kind, text).await {
                        tracing::warn!(error = %e, event = E::TYPE, "telegram notification not sent");
                    }
                }
            }
        });
    }

    fn arbitrage_due<E: Event>(&self, event: &E) -> bool {
        let v = serde_json::to_value(event).unwrap_or_default();
        let key = format!("{}:{}", v["strategy_id"], v["symbol"]);
        let now = Instant::now();
        let mut t = self.throttle.lock().unwrap_or_else(PoisonError::into_inner);
        t.retain(|_, at| now.duration_since(*at) < ARBITRAGE_EVERY);
        if t.contains_key(&key) {
            return false;
        }
        t.insert(key, now);
        true
    }

    /// Sends `text` to every linked user whose preference for `kind` is not off, once per
    /// event and user.
    pub async fn fan_out(
        &self,
        event_key: &str,
        kind: NotificationKind,
        text: String,
    ) -> anyhow::Result<usize> {
        self.deliver(event_key, kind, text, false).await
    }

    /// As [`Self::fan_out`], to linked admins only (what concerns running the service).
    pub async fn to_admins(
        &self,
        event_key: &str,
        kind: NotificationKind,
        text: String,
    ) -> anyhow::Result<usize> {
        self.deliver(event_key, kind, text, true).await
    }

    #[tracing::instrument(skip_all, fields(kind = kind.as_str(), admins_only))]
    async fn deliver(
        &self,
        event_key: &str,
        kind: NotificationKind,
        text: String,
        admins_only: bool,
    ) -> anyhow::Result<usize> {
        let db = self.db.port()?;
        let mut sent = 0;
        for link in store::links(&db).await? {
            if link.disabled || (admins_only && link.role != "admin") {
                continue;
            }
            let stored = store::preferences(&db, &link.user_id).await?;
            let level = prefs::effective(&stored)
                .into_iter()
                .find(|(k, _)| *k == kind)
                .map_or(kind.default_level(), |(_, l)| l);
            if level == Level::Off {
                continue;
            }
            if !store::claim_notification(&db, event_key, link.telegram_user_id).await? {
                continue; // already sent (a replay)
            }
            let msg = actors::telegram::Notify {
                chat_id: link.chat_id,
                telegram_user_id: link.telegram_user_id,
                reply: Reply::Text(text.clone()),
                silent: level == Level::Silent,
            };
            if self.actor.send(msg).await.unwrap_or(false) {
                sent += 1;
            }
        }
        Ok(sent)
    }
}
