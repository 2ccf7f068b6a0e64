//! The access log: one line per request, formatted here and handed to the log writer.
//!
//! Why not a `tracing` event through tracing-subscriber's fmt layer, as before: at `info`
//! (the default) logging was ~27 % of the service's CPU on a small read (`/v1/jobs?limit=20`:
//! 22.3-22.7 µs a request at `info` against 16.4-16.5 at `warn`), and perf put the root span's
//! seven fields (formatted into a string when it opened, again for its status) and the event's
//! formatting at ~15 % of it. Here the line is written with a handful of copies into a buffer
//! the thread keeps, in the layout the fmt layer uses for every other line (pretty, or one
//! JSON object), and appended to the writer's batch: the jobs page 25.0-29.9 → 21.8-27.6 µs
//! (docs/decisions.md "The access line written by hand; the transactions page read from one
//! index").
//!
//! Still `tracing`'s to decide: a line is written only if `RUST_LOG` / `telemetry.log_level`
//! enable its level for [`TARGET`] (`ai_service::access=warn` keeps only the 5xx lines). Where
//! no writer of ours is installed (a test's own subscriber), the line is a `tracing` event.

use crate::config::LogFormat;
use std::cell::RefCell;
use std::io::Write as _;
use std::time::{Duration, SystemTime};
use tracing::Level;

use super::batch::BatchWriter;

/// The target the access lines carry, for filters (`RUST_LOG=info,ai_service::access=off`).
pub const TARGET: &str = "ai_service::access";

/// The name the root span's lines carry (`HTTP request{request_id=…}:`), shared with it.
pub const SPAN_NAME: &str = "HTTP request";

/// One finished request, as its access line shows it.
pub struct Access<'a> {
    pub method: &'a str,
    /// The matched route's pattern, or `unmatched`.
    pub route: &'a str,
    /// Path and query as the client sent them.
    pub target: &'a str,
    pub status: u16,
    pub elapsed: Duration,
    pub client_ip: &'a str,
    pub user_agent: &'a str,
    /// The request id the root span and the `x-request-id` header carry; empty outside one.
    pub request_id: &'a str,
}

/// Where lines go once [`super::init`] has installed our writer (the one the fmt layer writes
/// every other line into).
pub(super) struct Sink {
    pub(super) writer: BatchWriter,
    pub(super) format: LogFormat,
}

static SINK: std::sync::OnceLock<Sink> = std::sync::OnceLock::new();

pub(super) fn install(sink: Sink) {
    let _ = SINK.set(sink);
}

/// The installed log writer (every line goes through it), for its count of dropped lines.
pub(super) fn writer() -> Option<&'static BatchWriter> {
    SINK.get().map(|s| &s.writer)
}

thread_local! {
    /// One line's buffer per thread, kept between requests (a line is ~300 bytes).
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Access<'_> {
    /// 5xx as warnings; probes and scrapes (every few seconds) at `debug`, out of the info log.
    pub fn level(&self) -> Level {
        if self.status >= 500 {
            Level::WARN
        } else if self.route.starts_with("/health") || self.route == "/metrics" {
            Level::DEBUG
        } else {
            Level::INFO
        }
    }

    /// Writes the line if its level is enabled for [`TARGET`].
    pub fn log(&self) {
        let level = self.level();
        // One callsite per level: `enabled!` needs its level at compile time, and each
        // callsite caches the filter's answer, so a disabled line costs a load and a branch.
        let enabled = match level {
            Level::WARN => tracing::enabled!(target: TARGET, Level::WARN),
            Level::DEBUG => tracing::enabled!(target: TARGET, Level::DEBUG),
            _ => tracing::enabled!(target: TARGET, Level::INFO),
        };
        if !enabled {
            return;
        }
        let Some(sink) = SINK.get() else {
            self.event(level);
            return;
        };
        LINE.with_borrow_mut(|line| {
            line.clear();
            self.write(line, level, sink.format, SystemTime::now());
            let _ = (&sink.writer).write_all(line);
            // A flood of huge targets must not leave every thread holding a large buffer.
            line.shrink_to(4096);
        });
    }

    /// The line as a `tracing` event, where no writer of ours is installed.
    fn event(&self, level: Level) {
        // Exact below 2^53 µs (285 years).
        let ms = self.elapsed.as_micros() as f64 / 1000.0;
        macro_rules! emit {
            ($level:expr) => {
                tracing::event!(
                    target: TARGET,
                    $level,
                    http.method = self.method,
                    http.route = self.route,
                    http.target = self.target,
                    http.status_code = self.status,
                    elapsed_ms = ms,
                    http.client_ip = self.client_ip,
                    http.user_agent = self.user_agent,
                    request_id = self.request_id,
                    "request finished"
                )
            };
        }
        match level {
            Level::WARN => emit!(Level::WARN),
            Level::DEBUG => emit!(Level::DEBUG),
            _ => emit!(Level::INFO),
        }
    }

    /// The line as tracing-subscriber's fmt layer lays out the others: `Full` (pretty), or
    /// one JSON object (`flatten_event`, the current span as `span`).
    fn write(&self, out: &mut Vec<u8>, level: Level, format: LogFormat, now: SystemTime) {
        let fields: [(&str, Value<'_>); 7] = [
            ("http.method", Value::Str(self.method)),
            ("http.route", Value::Str(self.route)),
            ("http.target", Value::Str(self.target)),
            ("http.status_code", Value::Status(self.status)),
            ("elapsed_ms", Value::Millis(self.elapsed)),
            ("http.client_ip", Value::Str(self.client_ip)),
            ("http.user_agent", Value::Quoted(self.user_agent)),
        ];
        match format {
            LogFormat::Pretty => {
                write_time(out, now);
                let _ = write!(out, " {level:>5} ");
                if !self.request_id.is_empty() {
                    let _ = write!(out, "{SPAN_NAME}{{request_id=");
                    plain(out, self.request_id);
                    out.extend_from_slice(b"}: ");
                }
                let _ = write!(out, "{TARGET}: request finished");
                for (name, value) in fields {
                    let _ = write!(out, " {name}=");
                    match value {
                        Value::Str(s) => plain(out, s),
                        Value::Quoted(s) => quoted(out, s),
                        Value::Status(n) => write_number(out, n),
                        Value::Millis(d) => write_millis(out, d),
                    }
                }
            }
            LogFormat::Json => {
                out.extend_from_slice(b"{\"timestamp\":\"");
                write_time(out, now);
                let _ = write!(
                    out,
                    "\",\"level\":\"{level}\",\"message\":\"request finished\""
                );
                for (name, value) in fields {
                    let _ = write!(out, ",\"{name}\":");
                    match value {
                        Value::Str(s) | Value::Quoted(s) => json_string(out, s),
                        Value::Status(n) => write_number(out, n),
                        Value::Millis(d) => write_millis(out, d),
                    }
                }
                let _ = write!(out, ",\"target\":\"{TARGET}\"");
                if !self.request_id.is_empty() {
                    out.extend_from_slice(b",\"span\":{\"request_id\":");
                    json_string(out, self.request_id);
                    let _ = write!(out, ",\"name\":\"{SPAN_NAME}\"}}");
                }
                out.push(b'}');
            }
        }
        out.push(b'\n');
    }
}

/// How a field's value is written.
enum Value<'a> {
    /// As is in the pretty line unless it holds a space, a quote or a control character
    /// (then quoted); a JSON string in JSON.
    Str(&'a str),
    /// Quoted in both (free text: a user agent has spaces).
    Quoted(&'a str),
    Status(u16),
    Millis(Duration),
}

/// `s` as is, or quoted where it could otherwise fake a field or a line.
fn plain(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| b <= b' ' || b == b'"' || b == 0x7f) {
        quoted(out, s);
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// Rust's `Debug` of a string: quoted, with quotes, backslashes and control characters
/// escaped, so nothing in it can start a new line.
fn quoted(out: &mut Vec<u8>, s: &str) {
    let _ = write!(out, "{s:?}");
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    // Writing into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_number(out: &mut Vec<u8>, n: u16) {
    let _ = write!(out, "{n}");
}

/// Milliseconds to the microsecond: `0.228`, not `0.22881600000000002`.
fn write_millis(out: &mut Vec<u8>, elapsed: Duration) {
    let micros = elapsed.as_micros();
    let _ = write!(out, "{}.{:03}", micros / 1000, micros % 1000);
}

/// `2026-12-04T21:10:25.719681Z`, as tracing-subscriber writes its timestamps (UTC, µs).
fn write_time(out: &mut Vec<u8>, now: SystemTime) {
    use chrono::{Datelike as _, Timelike as _};
    let t: chrono::DateTime<chrono::Utc> = now.into();
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        // A leap second's nanoseconds pass 10^9; µs stay six digits.
        (t.nanosecond() % 1_000_000_000) / 1000
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Access<'static> {
        Access {
            method: "GET",
            route: "/v1/jobs/{id}",
            target: "/v1/jobs/01?x=%22",
            status: 200,
            elapsed: Duration::from_micros(1_228),
            client_ip: "127.0.0.1",
            user_agent: "curl/8.5 \"quoted\" status=500",
            request_id: "01a242e4-e0b7-723d-a759-47f07d7b73d4",
        }
    }

    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_micros(1_796_419_825_719_681)
    }

    fn line(a: &Access<'_>, format: LogFormat) -> String {
        let mut out = Vec::new();
        a.write(&mut out, a.level(), format, at());
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn the_pretty_line_reads_like_the_fmt_layers_and_quotes_free_text() {
        assert_eq!(
            line(&sample(), LogFormat::Pretty),
            "2026-12-04T21:30:25.719681Z  INFO HTTP request{request_id=01a242e4-e0b7-723d-a759-47f07d7b73d4}: \
             ai_service::access: request finished http.method=GET http.route=/v1/jobs/{id} \
             http.target=/v1/jobs/01?x=%22 http.status_code=200 elapsed_ms=1.228 \
             http.client_ip=127.0.0.1 http.user_agent=\"curl/8.5 \\\"quoted\\\" status=500\"\n"
        );
    }

    #[test]
    fn the_json_line_is_one_object_with_the_fields_flattened_and_the_span() {
        let text = line(&sample(), LogFormat::Json);
        assert!(text.ends_with("}\n") && text.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
        assert_eq!(
            v,
            serde_json::json!({
                "timestamp": "2026-12-04T21:30:25.719681Z",
                "level": "INFO",
                "message": "request finished",
                "http.method": "GET",
                "http.route": "/v1/jobs/{id}",
                "http.target": "/v1/jobs/01?x=%22",
                "http.status_code": 200,
                "elapsed_ms": 1.228,
                "http.client_ip": "127.0.0.1",
                "http.user_agent": "curl/8.5 \"quoted\" status=500",
                "target": "ai_service::access",
                "span": {"request_id": "01a242e4-e0b7-723d-a759-47f07d7b73d4", "name": "HTTP request"},
            })
        );
    }

    #[test]
    fn levels_follow_the_status_and_probes_stay_out_of_the_info_log() {
        let mut a = sample();
        assert_eq!(a.level(), Level::INFO);
        a.status = 404;
        assert_eq!(a.level(), Level::INFO);
        a.status = 503;
        assert_eq!(a.level(), Level::WARN);
        assert!(line(&a, LogFormat::Pretty).contains("  WARN HTTP request"));
        a.status = 200;
        a.route = "/health/live";
        assert_eq!(a.level(), Level::DEBUG);
        a.route = "/metrics";
        assert_eq!(a.level(), Level::DEBUG);
        a.status = 500;
        assert_eq!(a.level(), Level::WARN, "a failing probe is a warning");
    }

    #[test]
    fn outside_a_request_span_there_is_no_span_and_times_keep_six_digits() {
        let mut a = sample();
        a.request_id = "";
        a.elapsed = Duration::from_nanos(999);
        let pretty = line(&a, LogFormat::Pretty);
        assert!(
            pretty.starts_with("2026-12-04T21:30:25.719681Z  INFO ai_service::access: "),
            "{pretty}"
        );
        assert!(pretty.contains(" elapsed_ms=0.000 "), "{pretty}");
        let json: serde_json::Value =
            serde_json::from_str(&line(&a, LogFormat::Json)).expect("json");
        assert!(json.get("span").is_none());
        let on_the_second = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_419_825);
        let mut out = Vec::new();
        write_time(&mut out, on_the_second);
        assert_eq!(out, b"2026-12-04T21:30:25.000000Z");
    }

    #[test]
    fn times_print_to_the_microsecond() {
        let printed = |nanos| {
            let mut out = Vec::new();
            write_millis(&mut out, Duration::from_nanos(nanos));
            String::from_utf8(out).expect("utf-8")
        };
        assert_eq!(printed(228_816), "0.228");
        assert_eq!(printed(35_557), "0.035");
        assert_eq!(printed(1_500_000_000), "1500.000");
        assert_eq!(printed(999), "0.000");
    }

    #[test]
    fn control_characters_in_free_text_cannot_start_a_new_line() {
        let mut a = sample();
        a.user_agent = "evil\n2026-12-04T00:00:00Z  INFO forged";
        a.target = "/x\r\ny";
        for format in [LogFormat::Pretty, LogFormat::Json] {
            let text = line(&a, format);
            assert_eq!(text.matches('\n').count(), 1, "{text}");
            assert!(!text.contains('\r'), "{text}");
        }
    }
}
