//! Who is calling, and with which role.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Roles are ordered: each includes the rights of the ones before it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// Read everything a user may see.
    Viewer,
    /// Viewer + trading actions and imports.
    Trader,
    /// Everything, including users, API keys and settings.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Trader, Role::Admin];

    /// The stored and wire form (derived, so it cannot drift from `parse`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Strict: an unknown role is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    User { id: String, username: String },
    ApiKey { id: String, prefix: String },
}

/// The authenticated caller, put into request extensions by the guard middleware
/// (`api::guard`); handlers read it through `api::ctx::Ctx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: Subject,
    /// The access token's session (refresh-token family); `None` for API keys.
    pub session: Option<String>,
    pub role: Role,
}

impl Principal {
    /// How the audit log names this caller: `user:alice`, `key:ais_k3x9…`.
    pub fn label(&self) -> String {
        match &self.subject {
            Subject::User { username, .. } => format!("user:{username}"),
            Subject::ApiKey { prefix, .. } => format!("key:{prefix}"),
        }
    }

    /// Stable key for per-credential rate limiting.
    pub fn limit_key(&self) -> String {
        match &self.subject {
            Subject::User { id, .. } => format!("u:{id}"),
            Subject::ApiKey { id, .. } => format!("k:{id}"),
        }
    }

    pub fn user_id(&self) -> Option<&str> {
        match &self.subject {
            Subject::User { id, .. } => Some(id),
            Subject::ApiKey { .. } => None,
        }
    }
}

#[cfg(test)]
mod role_forms {
    use super::Role;

    #[test]
    fn role_string_forms_are_strict_and_match_serde() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(
                serde_json::to_value(r).ok(),
                Some(serde_json::Value::from(r.as_str()))
            );
        }
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse("root"), None);
    }
}
