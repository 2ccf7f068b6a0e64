//! Order round trips as the service's own spans report them: `order_round_trip` (the engine,
//! from the strategy's decision until the venue's answer is applied and committed) minus the
//! `venue_http` spans inside it (the connector's HTTP calls: wire + venue). The difference is
//! our overhead, the venue excluded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

pub const ROUND_TRIP: &str = "order_round_trip";
pub const HTTP: &str = "venue_http";
/// The store's writes inside a round trip (their `#[tracing::instrument]` spans).
const DB_WRITES: [&str; 4] = [
    "insert_order",
    "record_fill",
    "record_fills_and_order",
    "update_order",
];
const ORDER_ENDPOINT: &str = "/api/v3/order";

#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub total: Duration,
    pub http: Duration,
    /// Of `ours`: the store's writes (waiting for the database included).
    pub db: Duration,
}

impl Sample {
    pub fn ours(&self) -> Duration {
        self.total.saturating_sub(self.http)
    }
}

/// Only the two spans this layer times (everything else stays disabled and costs nothing).
pub fn wanted(m: &Metadata<'_>) -> bool {
    m.is_span() && (m.name() == ROUND_TRIP || m.name() == HTTP || DB_WRITES.contains(&m.name()))
}

#[derive(Default, Clone)]
pub struct RoundTrips {
    samples: Arc<Mutex<Vec<Sample>>>,
}

impl RoundTrips {
    /// The samples since the last call.
    pub fn take(&self) -> Vec<Sample> {
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

struct Opened {
    at: Instant,
    http_ns: AtomicU64,
    db_ns: AtomicU64,
    /// Order placements among the HTTP calls inside (a round trip refused before sending
    /// has none and is no round trip).
    placed: AtomicU64,
    order_call: bool,
}

struct Endpoint(bool);

impl Visit for Endpoint {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "endpoint" {
            self.0 = value == ORDER_ENDPOINT;
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "endpoint" {
            self.0 = format!("{value:?}").trim_matches('"') == ORDER_ENDPOINT;
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for RoundTrips {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut endpoint = Endpoint(false);
        attrs.record(&mut endpoint);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Opened {
                at: Instant::now(),
                http_ns: AtomicU64::new(0),
                db_ns: AtomicU64::new(0),
                placed: AtomicU64::new(0),
                order_call: endpoint.0,
            });
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let (elapsed, http_ns, db_ns, placed, order_call) = {
            let ext = span.extensions();
            let Some(o) = ext.get::<Opened>() else { return };
            (
                o.at.elapsed(),
                o.http_ns.load(Ordering::Relaxed),
                o.db_ns.load(Ordering::Relaxed),
                o.placed.load(Ordering::Relaxed),
                o.order_call,
            )
        };
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        if span.name() == HTTP || DB_WRITES.contains(&span.name()) {
            if let Some(rt) = span.scope().skip(1).find(|s| s.name() == ROUND_TRIP)
                && let Some(o) = rt.extensions().get::<Opened>()
            {
                if span.name() == HTTP {
                    o.http_ns.fetch_add(ns, Ordering::Relaxed);
                    o.placed.fetch_add(u64::from(order_call), Ordering::Relaxed);
                } else {
                    o.db_ns.fetch_add(ns, Ordering::Relaxed);
                }
            }
        } else if span.name() == ROUND_TRIP && placed > 0 {
            self.samples
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Sample {
                    total: elapsed,
                    http: Duration::from_nanos(http_ns),
                    db: Duration::from_nanos(db_ns),
                });
        }
    }
}

/// p50, p99 and max of `values`, sorted in place (nearest rank).
pub fn percentiles(values: &mut [Duration]) -> Option<(Duration, Duration, Duration)> {
    values.sort_unstable();
    let n = values.len();
    let at = |p: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        values[rank - 1]
    };
    (n > 0).then(|| (at(0.50), at(0.99), values[n - 1]))
}
