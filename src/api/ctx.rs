//! `Ctx`: what a handler needs to know about the request besides its body:
//! the trace id, the caller (if authenticated), the client IP, and the shared state.

use super::AppState;
use crate::api::guard::ClientIp;
use crate::audit::Entry;
use crate::auth::Principal;
use crate::db::Db;
use crate::error::ApiError;
use crate::http::Audited;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use actors::TraceId;
use futures::future::{Ready, ready};

pub struct Ctx {
    pub trace_id: TraceId,
    pub principal: Option<Principal>,
    pub client_ip: Option<String>,
    pub state: web::Data<AppState>,
    req: HttpRequest,
}

impl FromRequest for Ctx {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
            return ready(Err(ApiError::Internal(anyhow::anyhow!("AppState missing"))));
        };
        let ext = req.extensions();
        let trace_id = crate::telemetry::trace_id_or_system(&ext);
        let ctx = Self {
            trace_id,
            principal: ext.get::<Principal>().cloned(),
            client_ip: ext.get::<ClientIp>().map(|c| c.0.to_string()),
            state,
            req: req.clone(),
        };
        ready(Ok(ctx))
    }
}

impl Ctx {
    pub fn db(&self) -> Result<Db, ApiError> {
        self.state.db.get().ok_or_else(|| {
            ApiError::Unavailable("the database is not reachable yet; retry shortly".to_owned())
        })
    }

    pub fn principal(&self) -> Result<&Principal, ApiError> {
        self.principal
            .as_ref()
            .ok_or_else(|| ApiError::Unauthorized("authentication required".to_owned()))
    }

    /// Writes an audit event for this request and stops the generic request audit
    /// from writing a second, less specific one.
    pub fn audit(
        &self,
        principal: String,
        action: &str,
        target: String,
        outcome: &str,
        detail: Option<String>,
    ) {
        self.req.extensions_mut().insert(Audited);
        self.state.audit.record(Entry {
            trace_id: &self.trace_id,
            principal,
            action,
            target,
            outcome,
            client_ip: self.client_ip.clone(),
            detail,
        });
    }

    /// The caller's audit label.
    pub fn who(&self) -> String {
        self.principal
            .as_ref()
            .map_or_else(|| "anonymous".to_owned(), Principal::label)
    }
}
