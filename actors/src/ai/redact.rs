//! Redaction: nothing that identifies an account, a card or a person leaves the process.
//! IBANs (mod-97 checked), card numbers (Luhn checked), e-mail addresses, phone numbers and
//! other long digit runs (account numbers) become placeholders such as `[IBAN_1]`; the same
//! value gets the same placeholder within one [`Redactor`], and [`Redactor::restore`] maps
//! them back in an answer meant for the user.
//!
//! Order matters: IBANs and cards are recognised before the generic digit rules, so a valid
//! IBAN is labelled as such rather than as an account number.

use regex::Regex;
use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Iban,
    Card,
    Email,
    Phone,
    Account,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::Iban => "IBAN",
            Self::Card => "CARD",
            Self::Email => "EMAIL",
            Self::Phone => "PHONE",
            Self::Account => "ACCOUNT",
        }
    }
}

#[allow(clippy::expect_used)]
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
        .expect("iban regex")
});
#[allow(clippy::expect_used)]
static CARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d(?:[ -]?\d){12,18}\b").expect("card regex"));
#[allow(clippy::expect_used)]
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
        .expect("email regex")
});
/// International (`+34 612 345 678`, `0034…`) or a bare 9-digit national mobile/landline.
#[allow(clippy::expect_used)]
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:\+|\b00)\d{1,3}(?:[ .-]?\(?\d\)?){7,12}\b|\b[6789]\d{2}[ .-]?\d{3}[ .-]?\d{3}\b",
    )
    .expect("phone regex")
});
/// Digit runs, possibly grouped by spaces or dashes; [`account_like`] keeps those with 8+
/// digits that are not a date: account and contract numbers.
#[allow(clippy::expect_used)]
static ACCOUNT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d(?:[ -]?\d)+\b").expect("account regex"));
#[allow(clippy::expect_used)]
static DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{4}-\d{2}-\d{2}$").expect("date regex"));

fn account_like(candidate: &str) -> bool {
    candidate.chars().filter(char::is_ascii_digit).count() >= 8 && !DATE.is_match(candidate)
}

/// The longest prefix of `candidate` (dropping trailing groups: the regex is greedy and may
/// have run into a following number) that is a valid IBAN.
fn valid_iban_prefix(candidate: &str) -> Option<&str> {
    let mut end = candidate.len();
    loop {
        let c = candidate[..end].trim_end();
        if iban_valid(c) {
            return Some(c);
        }
        end = c.rfind(' ')?;
    }
}
/// Placeholders themselves (so a restore never misses one the model echoed back).
#[allow(clippy::expect_used)]
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[(?:IBAN|CARD|EMAIL|PHONE|ACCOUNT)_\d+\]").expect("placeholder regex")
});

/// ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 = 1.
pub fn iban_valid(candidate: &str) -> bool {
    let s: String = candidate
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !(15..=34).contains(&s.len()) {
        return false;
    }
    let (head, tail) = s.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Luhn checksum over the digits of `candidate` (13–19 digits).
pub fn luhn_valid(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d = d * 2;
                if d > 9 { d - 9 } else { d }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Replaces sensitive values with stable placeholders and remembers them.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    by_value: HashMap<String, String>,
    by_placeholder: HashMap<String, String>,
    counts: HashMap<Kind, usize>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    fn placeholder(&mut self, kind: Kind, value: &str) -> String {
        if let Some(p) = self.by_value.get(value) {
            return p.clone();
        }
        let n = self.counts.entry(kind).or_default();
        *n += 1;
        let p = format!("[{}_{}]", kind.label(), n);
        self.by_value.insert(value.to_owned(), p.clone());
        self.by_placeholder.insert(p.clone(), value.to_owned());
        p
    }

    fn pass(&mut self, text: &str, re: &Regex, kind: Kind, keep: fn(&str) -> bool) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in re.find_iter(text) {
            if !keep(m.as_str()) {
                continue;
            }
            out.push_str(&text[last..m.start()]);
            out.push_str(&self.placeholder(kind, m.as_str()));
            last = m.end();
        }
        out.push_str(&text[last..]);
        out
    }

    fn iban_pass(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in IBAN.find_iter(text) {
            let Some(valid) = valid_iban_prefix(m.as_str()) else {
                continue;
            };
            out.push_str(&text[last..m.start()]);
            out.push_str(&self.placeholder(Kind::Iban, valid));
            last = m.start() + valid.len();
        }
        out.push_str(&text[last..]);
        out
    }

    /// The text with every sensitive value replaced.
    pub fn redact(&mut self, text: &str) -> String {
        let t = self.iban_pass(text);
        let t = self.pass(&t, &EMAIL, Kind::Email, |_| true);
        let t = self.pass(&t, &CARD, Kind::Card, luhn_valid);
        let t = self.pass(&t, &PHONE, Kind::Phone, |_| true);
        self.pass(&t, &ACCOUNT, Kind::Account, account_like)
    }

    /// How many distinct values were replaced.
    pub fn len(&self) -> usize {
        self.by_value.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_value.is_empty()
    }

    /// Puts the original values back where the model echoed a placeholder.
    pub fn restore(&self, text: &str) -> String {
        PLACEHOLDER
            .replace_all(text, |c: &regex::Captures<'_>| {
                self.by_placeholder
                    .get(&c[0])
                    .cloned()
                    .unwrap_or_else(|| c[0].to_owned())
            })
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iban_check_digits() {
        assert!(iban_valid("ES91 2100 0418 4502 0005 1332"));
        assert!(iban_valid("GB82WEST12345698765432"));
        assert!(iban_valid("DE89370400440532013000"));
        assert!(!iban_valid("ES91 2100 0418 4502 0005 1333"));
        assert!(!iban_valid("XX00"));
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111 1111 1111 1111"));
        assert!(luhn_valid("5500-0000-0000-0004"));
        assert!(!luhn_valid("4111 1111 1111 1112"));
        assert!(!luhn_valid("1234"));
    }

    #[test]
    fn redacts_every_kind_and_restores() {
        let mut r = Redactor::new();
        let text = "Transfer to ES91 2100 0418 4502 0005 1332 card 4111 1111 1111 1111 \
                    mail ana.k@example.com tel +34 612 345 678 or 612345678 ref 0049123456789";
        let red = r.redact(text);
        for secret in [
            "ES91",
            "2100 0418",
            "4111",
            "ana.k@example.com",
            "612 345 678",
            "612345678",
            "0049123456789",
        ] {
            assert!(!red.contains(secret), "{secret} leaked in {red}");
        }
        assert!(red.contains("[IBAN_1]"), "{red}");
        assert!(red.contains("[CARD_1]"), "{red}");
        assert!(red.contains("[EMAIL_1]"), "{red}");
        assert!(red.contains("[PHONE_1]"), "{red}");
        assert_eq!(r.restore(&red), text);
    }

    #[test]
    fn same_value_same_placeholder_and_plain_text_untouched() {
        let mut r = Redactor::new();
        let a = r.redact("pay GB82WEST12345698765432");
        assert_eq!(
            r.redact("to DE89 3704 0044 0532 0130 00 4111 1111 1111 1111"),
            "to [IBAN_2] [CARD_1]"
        );
        let b = r.redact("again GB82WEST12345698765432");
        assert_eq!(a, "pay [IBAN_1]");
        assert_eq!(b, "again [IBAN_1]");
        // Typed in lower case, followed by words: still found, and only the IBAN taken.
        assert_eq!(
            r.redact("mine is es91 2100 0418 4502 0005 1332 card ok"),
            "mine is [IBAN_3] card ok"
        );
        assert_eq!(
            r.redact("MERCADONA 12 -30.50 EUR 2026-10-01"),
            "MERCADONA 12 -30.50 EUR 2026-10-01"
        );
    }

    #[test]
    fn invalid_card_number_is_still_an_account_number() {
        let mut r = Redactor::new();
        let red = r.redact("card 4111 1111 1111 1112");
        assert!(!red.contains("4111"), "{red}");
        assert!(red.contains("[ACCOUNT_1]"), "{red}");
        assert_eq!(r.redact("contract 1234-5678-90"), "contract [ACCOUNT_2]");
    }
}
