//! The OpenAPI root document and the parts added after routes are collected.

use crate::error::{ErrorCode, FieldError, PROBLEM_CONTENT_TYPE, Problem};
use utoipa::openapi::path::Operation;
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
    for item in spec.paths.paths.values_mut() {
        for op in operations(item) {
            op.responses
                .responses
                .entry("default".to_owned())
                .or_insert_with(|| problem.clone().into());
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}
