//! `/v1/financial/imports`: upload a statement (multipart) → an `import` job; read outcomes.

use super::dto::{Import, ImportAccepted, ImportForm};
use crate::api::ctx::Ctx;
use crate::api::query::ApiQuery;
use crate::db::Db;
use crate::error::{ApiError, FieldError};
use crate::finance::accounts::{self, AccountRow};
use crate::finance::imports::{self, ImportRow};
use crate::finance::jobs::{self as finance_jobs, ImportPayload, QUEUE};
use crate::finance::profiles;
use crate::jobs::store::enqueue_in;
use actix_multipart::Multipart;
use actix_web::{HttpResponse, get, post, web};
use actors::TraceId;
use actors::finance::parse::Format;
use actors::jobs::JobSpec;
use futures::TryStreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

/// Largest statement accepted (a decade of daily transactions fits easily).
const MAX_FILE: usize = 50 * 1024 * 1024;

#[derive(Default)]
struct Form {
    account_id: Option<String>,
    format: Option<String>,
    profile_id: Option<String>,
    skip_bad_rows: Option<String>,
    filename: Option<String>,
    /// The file as streamed to an unnamed temporary file (gone with the process, even after
    /// kill -9), and its size: a 50 MiB upload held in memory peaked at ~150 MB RSS.
    file: Option<(tokio::fs::File, u64)>,
}

/// Streams one multipart field to a temporary file, refusing it past [`MAX_FILE`]. Memory
/// stays at about one multipart chunk.
async fn spool(field: &mut actix_multipart::Field) -> Result<(tokio::fs::File, u64), ApiError> {
    use tokio::io::{AsyncSeekExt, AsyncWriteExt};
    let io = |e: std::io::Error| ApiError::Internal(anyhow::anyhow!("spooling an upload: {e}"));
    let std_file = tempfile::tempfile().map_err(io)?;
    let mut file = tokio::fs::File::from_std(std_file);
    let mut size = 0u64;
    while let Some(chunk) = field
        .try_next()
        .await
        .map_err(|e| ApiError::BadRequest(format!("unreadable multipart body: {e}")))?
    {
        size += chunk.len() as u64;
        if size > MAX_FILE as u64 {
            return Err(ApiError::PayloadTooLarge(format!(
                "the file exceeds {} MiB",
                MAX_FILE / 1024 / 1024
            )));
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    file.rewind().await.map_err(io)?;
    Ok((file, size))
}

async fn read_form(mut payload: Multipart) -> Result<Form, ApiError> {
    let mut form = Form::default();
    let bad = |e: actix_multipart::MultipartError| {
        ApiError::BadRequest(format!("unreadable multipart body: {e} ({e:?})"))
    };
    while let Some(mut field) = payload.try_next().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            form.filename = field
                .content_disposition()
                .and_then(|cd| cd.get_filename().map(str::to_owned));
            form.file = Some(spool(&mut field).await?);
            continue;
        }
        let mut buf = Vec::new();
        while let Some(chunk) = field.try_next().await.map_err(bad)? {
            if buf.len() + chunk.len() > 1024 {
                return Err(ApiError::Validation(vec![FieldError::new(
                    name, "too long",
                )]));
            }
            buf.extend_from_slice(&chunk);
        }
        let text = || String::from_utf8_lossy(&buf).trim().to_owned();
        match name.as_str() {
            "account_id" => form.account_id = Some(text()),
            "format" => form.format = Some(text()),
            "profile_id" => form.profile_id = Some(text()).filter(|s| !s.is_empty()),
            "skip_bad_rows" => form.skip_bad_rows = Some(text()),
            other => {
                return Err(ApiError::Validation(vec![FieldError::new(
                    other,
                    "unknown field; expected account_id, format, profile_id, skip_bad_rows, file",
                )]));
            }
        }
    }
    Ok(form)
}

/// Upload a statement to import (CSV with a saved profile, OFX/QFX 1.x or 2.x, CAMT.053,
/// Norma 43). Answers 202 with the import and its job; a file with unreadable rows imports
/// nothing unless `skip_bad_rows=true`. Re-importing the same or an overlapping file adds
/// only what is new.
#[utoipa::path(tag = "financial", request_body(content = ImportForm, content_type = "multipart/form-data"),
    responses((status = 202, description = "Import queued", body = ImportAccepted), (status = 422, description = "Bad form field", body = crate::error::Problem), (status = 413, description = "File too large", body = crate::error::Problem)))]
#[post("/v1/financial/imports")]
#[tracing::instrument(skip_all)]
pub async fn create_import(ctx: Ctx, payload: Multipart) -> Result<HttpResponse, ApiError> {
    let form = read_form(payload).await?;
    let db = ctx.db()?;
    let mut upload = validate(&db, form).await?;
    let (row, job_id) = store(&db, &mut upload, &ctx.trace_id).await?;
    ctx.state.jobs.wake(QUEUE);
    ctx.audit(
        ctx.who(),
        "import.create",
        format!("account:{}", upload.account.name),
        "accepted",
        Some(format!(
            "{} ({} bytes), job {job_id}",
            row.filename, upload.size
        )),
    );
    Ok(HttpResponse::Accepted().json(ImportAccepted {
        import_id: row.id,
        job_id,
    }))
}

/// An upload whose fields all passed [`validate`].
struct Upload {
    account: AccountRow,
    /// A parser name, or `auto` (detected by the job).
    format: String,
    profile_id: Option<String>,
    skip_bad_rows: bool,
    filename: String,
    file: tokio::fs::File,
    size: u64,
}

/// Checks every field, naming each bad one (all of them at once, not the first).
async fn validate(db: &Db, form: Form) -> Result<Upload, ApiError> {
    let mut errors = Vec::new();
    let account = match &form.account_id {
        None => {
            errors.push(FieldError::new("account_id", "required"));
            None
        }
        Some(id) => {
            let a = accounts::get(db, id).await?;
            if a.is_none() {
                errors.push(FieldError::new("account_id", "no such account"));
            }
            a
        }
    };
    let format = form.format.clone().unwrap_or_else(|| "auto".to_owned());
    if format != "auto" && Format::parse(&format).is_none() {
        errors.push(FieldError::new(
            "format",
            "auto, csv, ofx, camt053 or norma43",
        ));
    }
    if format == "csv" && form.profile_id.is_none() {
        errors.push(FieldError::new(
            "profile_id",
            "CSV needs a saved profile (POST /v1/financial/csv-profiles)",
        ));
    }
    if let Some(pid) = &form.profile_id
        && profiles::get(db, pid).await?.is_none()
    {
        errors.push(FieldError::new("profile_id", "no such CSV profile"));
    }
    let skip_bad_rows = match form.skip_bad_rows.as_deref() {
        None | Some("false" | "0" | "") => false,
        Some("true" | "1") => true,
        Some(_) => {
            errors.push(FieldError::new("skip_bad_rows", "true or false"));
            false
        }
    };
    match &form.file {
        None => errors.push(FieldError::new("file", "required")),
        Some((_, 0)) => errors.push(FieldError::new("file", "the file is empty")),
        Some(_) => {}
    }
    super::dto::done(errors)?;
    let (Some(account), Some((file, size))) = (account, form.file) else {
        return Err(ApiError::BadRequest("incomplete form".to_owned()));
    };
    // A profile only describes CSV.
    let format = if format == "auto" && form.profile_id.is_some() {
        "csv".to_owned()
    } else {
        format
    };
    Ok(Upload {
        account,
        format,
        profile_id: form.profile_id,
        skip_bad_rows,
        filename: form.filename.unwrap_or_else(|| "upload".to_owned()),
        file,
        size,
    })
}

/// Writes the import row, its file and its job in one transaction: a failure leaves none of
/// them, never an import `queued` without a job. Returns the row and the job id.
async fn store(
    db: &Db,
    upload: &mut Upload,
    trace_id: &TraceId,
) -> Result<(ImportRow, String), ApiError> {
    let id = uuid::Uuid::now_v7().to_string();
    let mut spec = JobSpec::of::<finance_jobs::Import>(
        &ImportPayload {
            import_id: id.clone(),
        },
        trace_id.clone(),
    );
    spec.idempotency_key = Some(format!("import:{id}"));
    let mut tx = db.begin_write().await?;
    let (job_id, _) = enqueue_in(&mut tx, &spec).await?;
    let row = ImportRow {
        id,
        account_id: upload.account.id.clone(),
        format: upload.format.clone(),
        filename: upload.filename.clone(),
        profile_id: upload.profile_id.clone(),
        skip_bad_rows: upload.skip_bad_rows,
        status: "queued".to_owned(),
        job_id: Some(job_id.clone()),
        rows_total: 0,
        inserted: 0,
        updated: 0,
        duplicates: 0,
        skipped: None,
        error: None,
        trace_id: trace_id.as_str().to_owned(),
        created_at: chrono::Utc::now().timestamp_millis(),
        finished_at: None,
    };
    imports::create_in(&mut tx, &row, &mut upload.file)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    tx.commit().await?;
    Ok((row, job_id))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    pub account_id: Option<String>,
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Imports, newest first.
#[utoipa::path(tag = "financial", params(ImportQuery), responses((status = 200, description = "Imports", body = [Import])))]
#[get("/v1/financial/imports")]
pub async fn list_imports(
    ctx: Ctx,
    q: ApiQuery<ImportQuery>,
) -> Result<web::Json<Vec<Import>>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::Validation(vec![FieldError::new(
            "limit",
            "between 1 and 500",
        )]));
    }
    let rows = imports::list(&ctx.db()?, q.account_id.as_deref(), i64::from(limit)).await?;
    Ok(web::Json(rows.into_iter().map(Import::from).collect()))
}

/// One import: counts, skipped rows, or why it failed.
#[utoipa::path(tag = "financial", params(("id" = String, Path)), responses((status = 200, description = "Import", body = Import), (status = 404, description = "No such import", body = crate::error::Problem)))]
#[get("/v1/financial/imports/{id}")]
pub async fn get_import(ctx: Ctx, id: web::Path<String>) -> Result<web::Json<Import>, ApiError> {
    imports::get(&ctx.db()?, &id)
        .await?
        .map(|r| web::Json(r.into()))
        .ok_or_else(|| ApiError::NotFound(format!("no import {id}")))
}
