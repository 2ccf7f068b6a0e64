//! The access table: the one place that says which role each operation needs.
//!
//! The guard middleware enforces it and the OpenAPI document shows it (security requirement
//! plus a "Requires role" note on every operation). A served route missing from this table is
//! refused with 403 for everyone, and the role-matrix test fails on it.

use super::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials needed.
    Public,
    /// Any credential with at least this role.
    Role(Role),
}

pub struct Rule {
    pub method: &'static str,
    /// The actix route pattern, exactly as registered.
    pub path: &'static str,
    pub access: Access,
}

const fn rule(method: &'static str, path: &'static str, access: Access) -> Rule {
    Rule {
        method,
        path,
        access,
    }
}

use Access::Public;
const VIEWER: Access = Access::Role(Role::Viewer);
const TRADER: Access = Access::Role(Role::Trader);
const ADMIN: Access = Access::Role(Role::Admin);

pub const RULES: &[Rule] = &[
    // Probes, metrics, docs: public by design (no secrets in them).
    rule("GET", "/", Public),
    rule("GET", "/health/live", Public),
    rule("GET", "/health/ready", Public),
    rule("GET", "/metrics", Public),
    rule("GET", "/openapi.json", Public),
    rule("GET", "/docs", Public),
    rule("GET", "/docs/{_:.*}", Public),
    // Auth.
    rule("POST", "/v1/auth/login", Public),
    rule("POST", "/v1/auth/refresh", Public),
    rule("POST", "/v1/auth/logout", VIEWER),
    rule("GET", "/v1/auth/me", VIEWER),
    // Jobs.
    rule("GET", "/v1/jobs", VIEWER),
    rule("GET", "/v1/jobs/{id}", VIEWER),
    rule("POST", "/v1/jobs/{id}/retry", TRADER),
    rule("DELETE", "/v1/jobs/{id}", TRADER),
    rule("GET", "/v1/schedules", VIEWER),
    rule("POST", "/v1/schedules", ADMIN),
    rule("PUT", "/v1/schedules/{id}", ADMIN),
    rule("DELETE", "/v1/schedules/{id}", ADMIN),
    // Trading: anyone may look; traders change strategies and their lifecycle.
    rule("GET", "/v1/trading/strategies", VIEWER),
    rule("POST", "/v1/trading/strategies", TRADER),
    rule("GET", "/v1/trading/strategies/{id}", VIEWER),
    rule("PUT", "/v1/trading/strategies/{id}", TRADER),
    rule("DELETE", "/v1/trading/strategies/{id}", TRADER),
    rule("GET", "/v1/trading/strategies/{id}/orders", VIEWER),
    rule("GET", "/v1/trading/connectors", VIEWER),
    rule("GET", "/v1/trading/connectors/{name}/balances", VIEWER),
    rule("GET", "/v1/trading/pnl", VIEWER),
    rule("GET", "/v1/trading/pnl.png", VIEWER),
    rule("POST", "/v1/trading/deploy", TRADER),
    rule("POST", "/v1/trading/stop", TRADER),
    rule("POST", "/v1/trading/pause", TRADER),
    rule("POST", "/v1/trading/resume", TRADER),
    // Finance: anyone may read; traders (the owner's working role) change the books.
    rule("GET", "/v1/financial/accounts", VIEWER),
    rule("POST", "/v1/financial/accounts", TRADER),
    rule("GET", "/v1/financial/accounts/{id}", VIEWER),
    rule("PUT", "/v1/financial/accounts/{id}", TRADER),
    rule("DELETE", "/v1/financial/accounts/{id}", TRADER),
    rule("POST", "/v1/financial/accounts/{id}/sync", TRADER),
    rule("GET", "/v1/financial/categories", VIEWER),
    rule("POST", "/v1/financial/categories", TRADER),
    rule("PUT", "/v1/financial/categories/{id}", TRADER),
    rule("DELETE", "/v1/financial/categories/{id}", TRADER),
    rule("GET", "/v1/financial/transactions", VIEWER),
    rule("POST", "/v1/financial/transactions", TRADER),
    rule("GET", "/v1/financial/transactions/{id}", VIEWER),
    rule("PATCH", "/v1/financial/transactions/{id}", TRADER),
    rule("DELETE", "/v1/financial/transactions/{id}", TRADER),
    rule("POST", "/v1/financial/imports", TRADER),
    rule("GET", "/v1/financial/imports", VIEWER),
    rule("GET", "/v1/financial/imports/{id}", VIEWER),
    rule("GET", "/v1/financial/rules", VIEWER),
    rule("POST", "/v1/financial/rules", TRADER),
    rule("PUT", "/v1/financial/rules/{id}", TRADER),
    rule("DELETE", "/v1/financial/rules/{id}", TRADER),
    rule("POST", "/v1/financial/rules/{id}/test", VIEWER),
    rule("GET", "/v1/financial/csv-profiles", VIEWER),
    rule("POST", "/v1/financial/csv-profiles", TRADER),
    rule("PUT", "/v1/financial/csv-profiles/{id}", TRADER),
    rule("DELETE", "/v1/financial/csv-profiles/{id}", TRADER),
    rule("GET", "/v1/financial/reports/spending", VIEWER),
    rule("GET", "/v1/financial/reports/cashflow", VIEWER),
    rule("GET", "/v1/financial/reports/balance", VIEWER),
    rule("GET", "/v1/financial/reports/top-counterparties", VIEWER),
    rule("GET", "/v1/financial/reports/spending.png", VIEWER),
    rule("POST", "/v1/financial/categorization/backfill", TRADER),
    rule("GET", "/v1/financial/categorization/stats", VIEWER),
    // Telegram: Telegram itself calls the webhook (secret header checked in the handler);
    // anyone logged in may link their own account and set their notifications.
    rule("POST", "/v1/telegram/webhook", Public),
    rule("POST", "/v1/telegram/link-codes", VIEWER),
    rule("GET", "/v1/telegram/links", ADMIN),
    rule("DELETE", "/v1/telegram/links/{telegram_user_id}", VIEWER),
    rule("GET", "/v1/telegram/preferences", VIEWER),
    rule("PUT", "/v1/telegram/preferences", VIEWER),
    // AI: anyone may ask (read-only tools); usage and prompts show costs and internals.
    rule("POST", "/v1/ai/ask", VIEWER),
    rule("GET", "/v1/ai/usage", ADMIN),
    rule("GET", "/v1/ai/prompts", ADMIN),
    // Administration.
    rule("GET", "/v1/users", ADMIN),
    rule("POST", "/v1/users", ADMIN),
    rule("PATCH", "/v1/users/{id}", ADMIN),
    rule("GET", "/v1/api-keys", ADMIN),
    rule("POST", "/v1/api-keys", ADMIN),
    rule("DELETE", "/v1/api-keys/{id}", ADMIN),
    rule("GET", "/v1/audit", ADMIN),
    rule("GET", "/v1/admin/backups", ADMIN),
    rule("POST", "/v1/admin/backups", ADMIN),
    rule("GET", "/v1/settings/integrations", ADMIN),
    rule(
        "GET",
        "/v1/settings/integrations/{environment}/{provider}",
        ADMIN,
    ),
    rule(
        "PUT",
        "/v1/settings/integrations/{environment}/{provider}",
        ADMIN,
    ),
    rule(
        "DELETE",
        "/v1/settings/integrations/{environment}/{provider}",
        ADMIN,
    ),
];

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow(Access),
    /// The path is known, but not with this method.
    MethodNotAllowed,
    /// The route exists but nobody declared its access: refuse.
    Undeclared,
    /// No route: let the 404 handler answer.
    NoRoute,
}

pub fn decide(method: &str, pattern: Option<&str>) -> Decision {
    let Some(pattern) = pattern else {
        return Decision::NoRoute;
    };
    let mut path_known = false;
    for r in RULES {
        if r.path == pattern {
            path_known = true;
            if r.method == method {
                return Decision::Allow(r.access);
            }
        }
    }
    if path_known {
        Decision::MethodNotAllowed
    } else {
        Decision::Undeclared
    }
}

pub fn access_for(method: &str, path: &str) -> Option<Access> {
    RULES
        .iter()
        .find(|r| r.path == path && r.method.eq_ignore_ascii_case(method))
        .map(|r| r.access)
}
