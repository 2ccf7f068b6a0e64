//! Inline-keyboard tokens: what a button press means, kept in the actor's memory.
//!
//! `callback_data` is limited to 64 bytes and comes back from the client, so buttons carry
//! only a short random token (`t:<token>:<choice>`); what it stands for stays here. A token is
//! single use, expires (60 s for confirmations), and is bound to the Telegram user who asked:
//! somebody else pressing the button in a group gets a refusal and the token stays valid for
//! its owner. Pending confirmations die with the process on purpose: a restart never
//! executes a stale "yes".

use rand::Rng;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The longest `callback_data` Telegram accepts.
pub const MAX_CALLBACK_DATA: usize = 64;
pub const CONFIRM_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub telegram_user_id: i64,
    /// What each choice does (opaque to the actor: the backend's action strings); a
    /// confirmation has one, "yes".
    pub actions: Vec<String>,
    /// The command it confirms, for metrics and audit (`stop`).
    pub command: String,
    expires_at: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakeError {
    /// Never issued, already used, or forgotten after a restart.
    Unknown,
    Expired,
    /// Pressed by someone other than who asked; the token stays valid for its owner.
    NotYours,
}

#[derive(Debug, Default)]
pub struct Tokens {
    pending: HashMap<String, Pending>,
}

/// A parsed `callback_data` of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Press {
    pub token: String,
    pub choice: String,
}

impl Press {
    pub fn parse(data: &str) -> Option<Self> {
        let rest = data.strip_prefix("t:")?;
        let (token, choice) = rest.split_once(':')?;
        (!token.is_empty()).then(|| Self {
            token: token.to_owned(),
            choice: choice.to_owned(),
        })
    }
}

/// The `callback_data` for `choice` on `token`. `None` if it would not fit in 64 bytes.
pub fn callback_data(token: &str, choice: &str) -> Option<String> {
    let data = format!("t:{token}:{choice}");
    (data.len() <= MAX_CALLBACK_DATA).then_some(data)
}

impl Tokens {
    /// Issues a token for `action`, valid for `ttl` and only for `telegram_user_id`.
    pub fn issue(
        &mut self,
        telegram_user_id: i64,
        command: &str,
        actions: Vec<String>,
        ttl: Duration,
        now: Instant,
    ) -> String {
        self.pending.retain(|_, p| p.expires_at > now);
        let token = random_token();
        self.pending.insert(
            token.clone(),
            Pending {
                telegram_user_id,
                actions,
                command: command.to_owned(),
                expires_at: now + ttl,
            },
        );
        token
    }

    /// Uses a token up (single use) if it is valid for `telegram_user_id` now.
    pub fn take(
        &mut self,
        token: &str,
        telegram_user_id: i64,
        now: Instant,
    ) -> Result<Pending, TakeError> {
        let p = self.pending.get(token).ok_or(TakeError::Unknown)?;
        if p.expires_at <= now {
            self.pending.remove(token);
            return Err(TakeError::Expired);
        }
        if p.telegram_user_id != telegram_user_id {
            return Err(TakeError::NotYours);
        }
        self.pending.remove(token).ok_or(TakeError::Unknown)
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// 12 characters of `[A-Za-z0-9]` (~71 bits): unguessable, short enough for callback data.
fn random_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_use_bound_to_the_asker_and_expiring() {
        let mut t = Tokens::default();
        let now = Instant::now();
        let tok = t.issue(1, "stop", vec!["stop:all".into()], CONFIRM_TTL, now);
        assert_eq!(t.take(&tok, 2, now), Err(TakeError::NotYours));
        assert_eq!(
            t.take(&tok, 1, now).map(|p| p.actions),
            Ok(vec!["stop:all".to_owned()])
        );
        assert_eq!(t.take(&tok, 1, now), Err(TakeError::Unknown), "single use");

        let tok = t.issue(1, "stop", vec!["x".into()], CONFIRM_TTL, now);
        assert_eq!(
            t.take(&tok, 1, now + CONFIRM_TTL + Duration::from_millis(1)),
            Err(TakeError::Expired)
        );
    }

    #[test]
    fn callback_data_fits_and_parses_back() {
        let mut t = Tokens::default();
        let tok = t.issue(1, "stop", vec!["x".into()], CONFIRM_TTL, Instant::now());
        let data = callback_data(&tok, "y").expect("fits");
        assert!(data.len() <= MAX_CALLBACK_DATA);
        assert_eq!(
            Press::parse(&data),
            Some(Press {
                token: tok.clone(),
                choice: "y".into()
            })
        );
        assert_eq!(callback_data(&tok, &"c".repeat(60)), None);
        assert_eq!(Press::parse("fx:17:y"), None);
    }
}
