//! The OpenAPI root document and the parts added after routes are collected.

use crate::auth::policy::{Access, access_for};
use crate::error::{ErrorCode, FieldError, PROBLEM_CONTENT_TYPE, Problem};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "ai-service",
        description = "Personal finance and trading control plane. Every error is an RFC 9457 \
                       problem (`application/problem+json`) with a stable `code`.",
        license(name = "MIT")
    ),
    tags(
        (name = "health", description = "Liveness and readiness probes"),
        (name = "meta", description = "Metrics and service discovery"),
        (name = "auth", description = "Login, token refresh, logout"),
        (name = "admin", description = "Users, API keys, audit trail (role admin)"),
        (name = "jobs", description = "Durable jobs: inspect, retry, cancel"),
        (name = "settings", description = "Integration settings and secrets (role admin)"),
        (name = "financial", description = "Accounts, transactions, imports (CSV, OFX, CAMT.053, Norma 43), bank sync, categorization rules, reports"),
        (name = "trading", description = "Strategies, their lifecycle (deploy/stop/pause/resume as jobs), orders, connectors, PnL"),
    ),
    components(schemas(Problem, ErrorCode, FieldError))
)]
pub struct ApiDoc;

/// Adds what must cover every route: the security schemes (used by the auth issue's routes)
/// and a `default` problem response on each operation.
pub(super) fn finish(spec: &mut OpenApi) {
    let components = spec.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer_jwt",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("Access token from the login endpoint; expires."))
                .build(),
        ),
    );
    components.add_security_scheme(
        "api_key",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-Api-Key",
            "Long-lived key for REST integrations; scoped to a role.",
        ))),
    );
    let problem = ResponseBuilder::new()
        .description("Error, as problem details")
        .content(
            PROBLEM_CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build();
    for (path, item) in spec.paths.paths.iter_mut() {
        for (method, op) in operations(item) {
            op.responses
                .responses
                .entry("default".to_owned())
                .or_insert_with(|| problem.clone().into());
            declare_access(method, path, op);
        }
    }
}

/// Security and role note from the access table; an operation missing from the table gets
/// neither, which the role-matrix test and the docs test catch.
fn declare_access(method: &str, path: &str, op: &mut Operation) {
    match access_for(method, path) {
        Some(Access::Public) => {
            op.security = Some(vec![SecurityRequirement::default()]);
        }
        Some(Access::Role(role)) => {
            op.security = Some(vec![
                SecurityRequirement::new("bearer_jwt", Vec::<String>::new()),
                SecurityRequirement::new("api_key", Vec::<String>::new()),
            ]);
            let note = format!("**Requires role:** `{}` or higher.", role.as_str());
            op.description = Some(match op.description.take() {
                Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
                _ => note,
            });
            op.extensions
                .get_or_insert_with(Default::default)
                .insert("x-required-role".to_owned(), role.as_str().into());
        }
        None => op.security = None,
    }
}

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("PUT", item.put.as_mut()),
        ("POST", item.post.as_mut()),
        ("DELETE", item.delete.as_mut()),
        ("OPTIONS", item.options.as_mut()),
        ("HEAD", item.head.as_mut()),
        ("PATCH", item.patch.as_mut()),
        ("TRACE", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
}
