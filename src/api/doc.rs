//! The OpenAPI root document and the parts added after routes are collected.

use crate::auth::policy::{Access, access_for};
use crate::error::{ApiError, ErrorCode, FieldError, PROBLEM_CONTENT_TYPE, Problem};
use actix_web::http::StatusCode;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

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
        (name = "ai", description = "Ask your money (read-only tools), AI usage and prompt templates"),
        (name = "settings", description = "Integration settings and secrets (role admin)"),
        (name = "financial", description = "Accounts, transactions, imports (CSV, OFX, CAMT.053, Norma 43), bank sync, categorization rules, reports"),
        (name = "trading", description = "Strategies, their lifecycle (deploy/stop/pause/resume as jobs), orders, connectors, PnL"),
        (name = "telegram", description = "The Telegram bot: webhook, linking Telegram users to accounts, notification preferences"),
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
            query_validation_response(op);
            problem_responses(op);
            body_limit_response(op);
            declare_access(method, path, op);
        }
    }
}

const PROBLEM_REF: &str = "#/components/schemas/Problem";

/// Every error response whose body is a [`Problem`] is declared as `application/problem+json`
/// (what the server sends; utoipa's default media type for a body is `application/json`) and
/// shows an example with its own status and code, not the schema's one 422 example.
fn problem_responses(op: &mut Operation) {
    let is_problem =
        |c: &Content| matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location == PROBLEM_REF);
    for (status, response) in &mut op.responses.responses {
        let RefOr::T(response) = response else {
            continue;
        };
        let status = match status.as_str() {
            "default" => StatusCode::INTERNAL_SERVER_ERROR,
            s => match s
                .parse::<u16>()
                .ok()
                .and_then(|n| StatusCode::from_u16(n).ok())
            {
                Some(s) if s.is_client_error() || s.is_server_error() => s,
                _ => continue,
            },
        };
        // An error declared without a body still gets one from the server: a problem.
        if response.content.is_empty() {
            response.content.insert(
                PROBLEM_CONTENT_TYPE.to_owned(),
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            );
        }
        if response
            .content
            .get("application/json")
            .is_some_and(is_problem)
            && let Some(content) = response.content.shift_remove("application/json")
        {
            response
                .content
                .insert(PROBLEM_CONTENT_TYPE.to_owned(), content);
        }
        if let Some(content) = response.content.get_mut(PROBLEM_CONTENT_TYPE)
            && is_problem(content)
            && content.example.is_none()
        {
            content.example = serde_json::to_value(example_problem(status)).ok();
        }
    }
}

/// Every operation with query parameters answers 422 naming a parameter that is unknown,
/// repeated or of the wrong type ([`crate::api::query::ApiQuery`]); declared unless the
/// operation declares its own 422.
fn query_validation_response(op: &mut Operation) {
    let names: Vec<String> = op
        .parameters
        .iter()
        .flatten()
        .filter(|p| p.parameter_in == utoipa::openapi::path::ParameterIn::Query)
        .map(|p| format!("`{}`", p.name))
        .collect();
    if names.is_empty() || op.responses.responses.contains_key("422") {
        return;
    }
    // What the server answers to `?sorted=date` on this operation (serde's wording).
    let expected = match names.as_slice() {
        [one] => format!("expected {one}"),
        many => format!("expected one of {}", many.join(", ")),
    };
    let example = ApiError::Validation(vec![FieldError::new(
        "sorted",
        format!("unknown field `sorted`, {expected} (got `date`)"),
    )])
    .problem();
    declare_problem(
        op,
        "422",
        "A query parameter is unknown, repeated or of the wrong type; `errors` names it",
        &example,
    );
}

/// Declares the `status` response of `op` as a problem, with `example`.
fn declare_problem(op: &mut Operation, status: &str, description: &str, example: &Problem) {
    let response = ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .example(serde_json::to_value(example).ok())
                .build(),
        )
        .build();
    op.responses
        .responses
        .insert(status.to_owned(), response.into());
}

/// Every operation that takes a JSON body answers 413 past `server.json_limit_bytes`
/// ([`crate::api::json::body_limit`]); declared unless the operation declares its own 413.
fn body_limit_response(op: &mut Operation) {
    let takes_json = op
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.contains_key("application/json"));
    if !takes_json || op.responses.responses.contains_key("413") {
        return;
    }
    let default_limit = crate::config::Settings::default().server.json_limit_bytes;
    let example = crate::api::json::too_large(Some(default_limit)).problem();
    declare_problem(
        op,
        "413",
        &format!(
            "The body is longer than `server.json_limit_bytes` ({default_limit} bytes by default)"
        ),
        &example,
    );
}

/// A realistic body for `status`, with the code the server uses for it.
fn example_problem(status: StatusCode) -> Problem {
    let code = ErrorCode::for_status(status);
    let detail = match code {
        ErrorCode::BadRequest => "incomplete form",
        ErrorCode::MalformedJson => "the body is not valid JSON: EOF while parsing an object",
        ErrorCode::ValidationFailed => "1 field is invalid",
        ErrorCode::Unauthorized => "send `Authorization: Bearer <token>` or `X-Api-Key`",
        ErrorCode::Forbidden => "requires role `trader`; this credential has `viewer`",
        ErrorCode::NotFound => "no such route or resource",
        ErrorCode::MethodNotAllowed => "PATCH is not supported on /v1/jobs",
        ErrorCode::Conflict => "the name is already taken",
        ErrorCode::PayloadTooLarge => "the file exceeds 50 MiB",
        ErrorCode::UnsupportedMediaType => "expected `Content-Type: application/json`",
        ErrorCode::RateLimited => "too many requests; retry in 12 s",
        ErrorCode::ServiceUnavailable => "the database is busy or unreachable; retry shortly",
        ErrorCode::Overloaded => "too many password checks at once; retry in 1 s",
        ErrorCode::Internal => "internal error; the server log has the details",
        ErrorCode::AiNotConfigured => "no AI provider is configured (ai.provider = \"none\")",
        ErrorCode::AiBudgetExhausted => "this month's AI budget of 10 USD is spent",
        ErrorCode::AiUnavailable => "the AI provider is failing; retry later",
    };
    let problem = Problem::new(status, code, detail);
    if code == ErrorCode::ValidationFailed {
        problem.with_errors(vec![FieldError::new(
            "amount",
            "must be a decimal string such as \"-12.50\"",
        )])
    } else {
        problem
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
