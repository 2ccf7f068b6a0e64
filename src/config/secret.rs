//! Secret-bearing config values that never print their secret part.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A connection URL that may carry a password (`postgres://user:pw@host/db`).
/// `Debug`, `Display` and `Serialize` show it with the password replaced by `***`;
/// only [`expose`](Self::expose) returns the real thing, for the driver.
#[derive(Clone)]
pub struct SecretUrl(SecretString);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(SecretString::from(url.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().trim().is_empty()
    }

    /// The URL with any password (and a query string, which may hold tokens) masked.
    pub fn redacted(&self) -> String {
        match url::Url::parse(self.expose()) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("***"));
                }
                if u.query().is_some() {
                    u.set_query(Some("***"));
                }
                u.to_string()
            }
            // Not a URL we can parse (e.g. `sqlite:data/x.db`): only show it when it cannot
            // hold credentials.
            Err(_) if !self.expose().contains('@') => self.expose().to_owned(),
            Err(_) => "***".to_owned(),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl PartialEq for SecretUrl {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_never_shows() {
        let u = SecretUrl::new("postgres://app:hunter2@db:5432/ai?sslmode=require");
        for shown in [
            format!("{u}"),
            format!("{u:?}"),
            serde_json::json!(u).to_string(),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("app:***@db"), "{shown}");
        }
        assert!(u.expose().contains("hunter2"));
    }

    #[test]
    fn plain_sqlite_paths_stay_readable() {
        assert_eq!(
            SecretUrl::new("sqlite://data/a.db").redacted(),
            "sqlite://data/a.db"
        );
        assert_eq!(
            SecretUrl::new("redis://:pw@localhost:6379/0").redacted(),
            "redis://:***@localhost:6379/0"
        );
    }
}

/// A secret config value (signing key, master key). Prints as `***` when set, `""` when not.
#[derive(Clone, Default)]
pub struct Secret(Option<SecretString>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        let v: String = value.into();
        if v.is_empty() {
            Self(None)
        } else {
            Self(Some(SecretString::from(v)))
        }
    }

    pub fn expose(&self) -> &str {
        self.0.as_ref().map_or("", |s| s.expose_secret())
    }

    pub fn is_set(&self) -> bool {
        !self.expose().trim().is_empty()
    }

    fn shown(&self) -> &'static str {
        if self.is_set() { "***" } else { "" }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.shown())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.shown())
    }
}
