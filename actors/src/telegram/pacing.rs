//! The send scheduler: when each outgoing message may go, without a runtime.
//!
//! Telegram allows about one message per second per chat (short bursts tolerated) and about
//! 30 per second overall; beyond that it answers 429 with `retry_after`. The scheduler keeps a
//! per-chat next-free time and a one-second window of global sends, and a 429 pushes the
//! chat (or everything, for a global limit) back by the time Telegram asked for.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct PacingConfig {
    /// Minimum gap between two messages to one chat.
    pub per_chat: Duration,
    /// Messages one chat may send back to back before `per_chat` applies.
    pub burst: u32,
    /// Messages per second over all chats.
    pub global_per_sec: u32,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            per_chat: Duration::from_secs(1),
            burst: 3,
            global_per_sec: 30,
        }
    }
}

#[derive(Debug)]
struct ChatBucket {
    /// Token-bucket level: sends available now (refills one per `per_chat`).
    tokens: f64,
    at: Instant,
    blocked_until: Option<Instant>,
}

#[derive(Debug)]
pub struct Pacer {
    config: PacingConfig,
    chats: HashMap<i64, ChatBucket>,
    /// Times of the sends granted in the last second (global limit).
    recent: VecDeque<Instant>,
    global_blocked_until: Option<Instant>,
}

impl Pacer {
    pub fn new(config: PacingConfig) -> Self {
        Self {
            config,
            chats: HashMap::new(),
            recent: VecDeque::new(),
            global_blocked_until: None,
        }
    }

    /// Reserves the next send slot for `chat` at or after `now` and returns it. Slots are
    /// granted in call order; the caller sleeps until the returned instant, then sends.
    pub fn reserve(&mut self, chat: i64, now: Instant) -> Instant {
        let cfg = self.config;
        let burst = f64::from(cfg.burst.max(1));
        let per_chat = cfg.per_chat.as_secs_f64();
        let bucket = self.chats.entry(chat).or_insert(ChatBucket {
            tokens: burst,
            at: now,
            blocked_until: None,
        });
        // Refill up to `now` (the bucket's clock never goes backwards).
        if now > bucket.at {
            let refill = if per_chat > 0.0 {
                (now - bucket.at).as_secs_f64() / per_chat
            } else {
                burst
            };
            bucket.tokens = (bucket.tokens + refill).min(burst);
            bucket.at = now;
        }
        let mut at = bucket.at.max(now);
        if bucket.tokens < 1.0 {
            let wait = (1.0 - bucket.tokens) * per_chat;
            at += Duration::from_secs_f64(wait);
            bucket.tokens = 1.0;
            bucket.at = at;
        }
        if let Some(b) = bucket.blocked_until {
            at = at.max(b);
        }
        if let Some(b) = self.global_blocked_until {
            at = at.max(b);
        }
        // Global window: the send `global_per_sec` sends ago must be ≥ 1 s before `at`.
        let window = Duration::from_secs(1);
        while self.recent.front().is_some_and(|t| *t + window <= at) {
            self.recent.pop_front();
        }
        let limit = cfg.global_per_sec.max(1) as usize;
        if self.recent.len() >= limit
            && let Some(oldest) = self.recent.get(self.recent.len() - limit)
        {
            at = at.max(*oldest + window);
        }
        // Consume the chat token at the granted time.
        let bucket = self.chats.entry(chat).or_insert(ChatBucket {
            tokens: burst,
            at,
            blocked_until: None,
        });
        if at > bucket.at {
            let refill = (at - bucket.at).as_secs_f64() / per_chat.max(f64::MIN_POSITIVE);
            bucket.tokens = (bucket.tokens + refill).min(burst);
            bucket.at = at;
        }
        bucket.tokens -= 1.0;
        self.recent.push_back(at);
        at
    }

    /// Telegram said 429 with `retry_after` for `chat` (`None`: a global limit).
    pub fn retry_after(&mut self, chat: Option<i64>, after: Duration, now: Instant) {
        let until = now + after;
        match chat.and_then(|c| self.chats.get_mut(&c)) {
            Some(b) => b.blocked_until = Some(b.blocked_until.map_or(until, |x| x.max(until))),
            None => {
                self.global_blocked_until =
                    Some(self.global_blocked_until.map_or(until, |x| x.max(until)));
            }
        }
    }

    /// Forgets chats idle for a minute (bounded memory with many chats).
    pub fn housekeep(&mut self, now: Instant) {
        self.chats.retain(|_, b| {
            b.at + Duration::from_secs(60) > now || b.blocked_until.is_some_and(|u| u > now)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer() -> Pacer {
        Pacer::new(PacingConfig {
            per_chat: Duration::from_secs(1),
            burst: 1,
            global_per_sec: 30,
        })
    }

    #[test]
    fn one_chat_gets_about_one_message_per_second() {
        let mut p = pacer();
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..4).map(|_| p.reserve(7, t0) - t0).collect();
        assert_eq!(
            slots,
            [0, 1, 2, 3].map(Duration::from_secs).to_vec(),
            "{slots:?}"
        );
    }

    #[test]
    fn a_burst_is_allowed_then_paced() {
        let mut p = Pacer::new(PacingConfig {
            per_chat: Duration::from_secs(1),
            burst: 3,
            global_per_sec: 30,
        });
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..5).map(|_| p.reserve(7, t0) - t0).collect();
        assert_eq!(slots[..3], [Duration::ZERO; 3]);
        assert_eq!(slots[3], Duration::from_secs(1));
        assert_eq!(slots[4], Duration::from_secs(2));
    }

    #[test]
    fn many_chats_share_thirty_per_second() {
        let mut p = pacer();
        let t0 = Instant::now();
        let slots: Vec<Instant> = (0..61).map(|chat| p.reserve(chat, t0)).collect();
        assert!(slots[..30].iter().all(|s| *s == t0));
        assert_eq!(slots[30] - t0, Duration::from_secs(1));
        assert_eq!(slots[60] - t0, Duration::from_secs(2));
        // Never more than 30 inside any one-second window.
        for (i, s) in slots.iter().enumerate() {
            let in_window = slots[i..]
                .iter()
                .filter(|t| **t < *s + Duration::from_secs(1))
                .count();
            assert!(in_window <= 30, "{in_window} sends in one second");
        }
    }

    #[test]
    fn retry_after_pushes_the_chat_back() {
        let mut p = pacer();
        let t0 = Instant::now();
        assert_eq!(p.reserve(7, t0), t0);
        p.retry_after(Some(7), Duration::from_secs(7), t0);
        assert_eq!(p.reserve(7, t0) - t0, Duration::from_secs(7));
        assert_eq!(p.reserve(8, t0), t0, "other chats are not held back");
        p.retry_after(None, Duration::from_secs(3), t0);
        assert_eq!(p.reserve(9, t0) - t0, Duration::from_secs(3));
    }
}
