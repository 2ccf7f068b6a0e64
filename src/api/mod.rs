//! The HTTP API: routes, their OpenAPI description, and the app factory.
//!
//! Layout:
//! - `doc.rs`: the OpenAPI root (info, tags, security schemes, shared error responses).
//! - `health.rs`: `/health/live`, `/health/ready`.
//! - `meta.rs`: `/metrics`, `/` (redirect to the docs).
//! - `swagger.rs`: `/docs/`, Swagger UI from the binary, pre-compressed (`build.rs`).
//! - `json.rs`: the `ApiJson` body extractor with field-naming errors.
//! - `problems.rs`: turning framework error responses into problem details.
//! - `png.rs`: chart answers (`image/png`, rendered off the async workers).
//! - `present.rs`: timestamps (RFC 3339) and money (currency scale) as responses show them.
//! - `state.rs`: [`AppState`], what every handler shares.
//! - `guard.rs`: the middleware applying rate limits, authentication and the access table
//!   (`auth::policy`) to every request; refusals are problem responses.
//! - `client_ip.rs`: the client IP behind trusted reverse proxies (`X-Forwarded-For`).
//! - `ctx.rs`: the per-request context extractor (trace id, caller, IP, state).
//! - `auth.rs`, `admin.rs`, `audit.rs`, `backups.rs`, `settings.rs`, `jobs.rs`, `schedules.rs`:
//!   `/v1` routes.
//! - `trading/`: `/v1/trading` (strategies, lifecycle commands, orders, connectors, PnL).
//! - `financial/`: `/v1/financial` (accounts, transactions, imports, rules, reports).
//! - `telegram.rs`: `/v1/telegram` (webhook, link codes, links, notification preferences).
//!
//! Every route is listed once (`every_route!`), which feeds both the server ([`serve`]) and
//! [`openapi`] ([`routes`]), so the committed spec cannot forget a route.

pub mod admin;
pub mod ai;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod client_ip;
pub mod ctx;
mod doc;
pub mod financial;
pub mod guard;
pub mod health;
pub mod jobs;
pub mod json;
pub mod meta;
pub mod png;
pub mod present;
pub mod problems;
pub mod query;
pub mod schedules;
pub mod schema;
pub mod settings;
mod state;
pub mod swagger;
pub mod telegram;
pub mod trading;

use actix_web::App;
use utoipa_actix_web::AppExt;

pub use doc::ApiDoc;
pub use state::AppState;

/// Every documented route, written once for both users: [`routes`] (the OpenAPI document)
/// and [`serve`] (the workers). A route missing here is missing from both.
///
/// Routes whose path has no parameters come first. actix tries the routes in order and runs
/// the regex of every parameterised one it passes (a capture and a 16-slot segment array
/// each): with `/v1/financial/categories` behind 25 of them, that was 6-7 % of the service's
/// CPU for reading it (perf, 2026-12-04). Static first, a static path passes none. It decides
/// nothing else: no static path is also matched by a parameterised pattern (the test
/// `static_routes_come_first_and_none_is_shadowed` checks both).
macro_rules! every_route {
    ($cfg:ident) => {
        static_routes!($cfg);
        param_routes!($cfg);
    };
}

/// The routes whose path has no parameters (`/v1/jobs`), in the order their areas are read.
macro_rules! static_routes {
    ($cfg:ident) => {
        $cfg.service(health::live)
            .service(health::ready)
            .service(meta::metrics)
            .service(meta::root)
            .service(auth::login)
            .service(auth::refresh)
            .service(auth::logout)
            .service(auth::me)
            .service(admin::list_users)
            .service(admin::create_user)
            .service(admin::list_keys)
            .service(admin::create_key)
            .service(audit::list_events)
            .service(backups::create_backup)
            .service(backups::list_backups)
            .service(settings::list_settings)
            .service(ai::ask)
            .service(ai::usage)
            .service(ai::prompts)
            .service(jobs::list_jobs)
            .service(schedules::list_schedules)
            .service(schedules::create_schedule)
            .service(trading::strategies::list_strategies)
            .service(trading::strategies::create_strategy)
            .service(trading::reads::list_connectors)
            .service(trading::reads::pnl)
            .service(trading::charts::pnl_png)
            .service(trading::commands::deploy)
            .service(trading::commands::stop)
            .service(trading::commands::pause)
            .service(trading::commands::resume)
            .service(financial::accounts::list_accounts)
            .service(financial::accounts::create_account)
            .service(financial::categories::list_categories)
            .service(financial::categories::create_category)
            .service(financial::transactions::list_transactions)
            .service(financial::transactions::create_transaction)
            .service(financial::imports::create_import)
            .service(financial::imports::list_imports)
            .service(financial::rules::list_rules)
            .service(financial::rules::create_rule)
            .service(financial::profiles::list_profiles)
            .service(financial::profiles::create_profile)
            .service(financial::reports::spending)
            .service(financial::reports::cashflow)
            .service(financial::reports::balance)
            .service(financial::reports::top_counterparties)
            .service(financial::charts::spending_png)
            .service(financial::categorization::backfill)
            .service(financial::categorization::stats)
            .service(telegram::webhook)
            .service(telegram::create_link_code)
            .service(telegram::list_links)
            .service(telegram::get_preferences)
            .service(telegram::put_preferences);
    };
}

/// The routes whose path has parameters (`/v1/jobs/{id}`).
macro_rules! param_routes {
    ($cfg:ident) => {
        $cfg.service(admin::update_user)
            .service(admin::revoke_key)
            .service(settings::get_setting)
            .service(settings::put_setting)
            .service(settings::delete_setting)
            .service(jobs::get_job)
            .service(jobs::retry_job)
            .service(jobs::cancel_job)
            .service(schedules::update_schedule)
            .service(schedules::delete_schedule)
            .service(trading::strategies::get_strategy)
            .service(trading::strategies::update_strategy)
            .service(trading::strategies::delete_strategy)
            .service(trading::reads::list_orders)
            .service(trading::reads::connector_balances)
            .service(financial::accounts::get_account)
            .service(financial::accounts::update_account)
            .service(financial::accounts::delete_account)
            .service(financial::accounts::sync_account)
            .service(financial::categories::update_category)
            .service(financial::categories::delete_category)
            .service(financial::transactions::get_transaction)
            .service(financial::transactions::patch_transaction)
            .service(financial::transactions::delete_transaction)
            .service(financial::imports::get_import)
            .service(financial::rules::update_rule)
            .service(financial::rules::delete_rule)
            .service(financial::rules::test_rule)
            .service(financial::profiles::update_profile)
            .service(financial::profiles::delete_profile)
            .service(telegram::delete_link);
    };
}

/// Registers every documented route on the OpenAPI collector (the spec and its tests).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    every_route!(cfg);
}

/// Registers every documented route on a worker's app. The same list as [`routes`], without
/// generating the OpenAPI path items per worker (that is done once, for `/openapi.json`).
pub fn serve(cfg: &mut actix_web::web::ServiceConfig) {
    every_route!(cfg);
}

/// The complete OpenAPI document, generated from the code.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut spec) = App::new()
        .into_utoipa_app()
        .openapi(<ApiDoc as utoipa::OpenApi>::openapi())
        .configure(routes)
        .split_for_parts();
    doc::finish(&mut spec);
    spec
}

/// The spec as committed under `openapi/openapi.json` (pretty, trailing newline).
pub fn openapi_json() -> String {
    let mut json = openapi().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa_actix_web::service_config::ServiceConfig;

    fn paths_of(configure: fn(&mut ServiceConfig<'_>)) -> Vec<String> {
        let (_, spec) = App::new()
            .into_utoipa_app()
            .configure(configure)
            .split_for_parts();
        spec.paths.paths.keys().cloned().collect()
    }

    fn statics(cfg: &mut ServiceConfig<'_>) {
        static_routes!(cfg);
    }

    fn params(cfg: &mut ServiceConfig<'_>) {
        param_routes!(cfg);
    }

    /// Whether the actix pattern `pattern` (`/v1/jobs/{id}`) matches the plain path `path`.
    fn matches(pattern: &str, path: &str) -> bool {
        let (pattern, path): (Vec<_>, Vec<_>) =
            (pattern.split('/').collect(), path.split('/').collect());
        pattern.len() == path.len()
            && pattern
                .iter()
                .zip(&path)
                .all(|(want, got)| want == got || (want.starts_with('{') && want.ends_with('}')))
    }

    /// See [`every_route!`]: the static list has no parameters, the other only parameters,
    /// and no static path is taken by a parameterised pattern, so putting the static ones
    /// first changes which handler answers nothing.
    #[test]
    fn static_routes_come_first_and_none_is_shadowed() {
        let (statics, params) = (paths_of(statics), paths_of(params));
        assert_eq!(
            statics.len() + params.len(),
            paths_of(routes).len(),
            "every path in exactly one list: {statics:?} {params:?}"
        );
        let misplaced: Vec<_> = statics.iter().filter(|p| p.contains('{')).collect();
        assert!(
            misplaced.is_empty(),
            "parameterised paths among the static routes: {misplaced:?}"
        );
        let misplaced: Vec<_> = params.iter().filter(|p| !p.contains('{')).collect();
        assert!(
            misplaced.is_empty(),
            "static paths among the parameterised routes: {misplaced:?}"
        );
        for path in &statics {
            for pattern in &params {
                assert!(!matches(pattern, path), "`{pattern}` also matches `{path}`");
            }
        }
        assert!(matches("/v1/jobs/{id}", "/v1/jobs/stats"));
        assert!(!matches("/v1/jobs/{id}", "/v1/jobs"));
    }
}
