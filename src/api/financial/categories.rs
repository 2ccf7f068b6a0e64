//! `/v1/financial/categories`: a two-level tree.

use super::dto::{self, Category, CategoryInput};
use crate::api::ctx::Ctx;
use crate::api::json::ApiJson;
use crate::error::{ApiError, FieldError};
use crate::finance::categories::{self, CategoryRow, KINDS};
use actix_web::{HttpResponse, delete, get, post, put, web};

async fn save(
    ctx: &Ctx,
    id: String,
    i: CategoryInput,
    created_at: Option<i64>,
) -> Result<Category, ApiError> {
    let mut errors = Vec::new();
    dto::text("name", &i.name, 100, &mut errors);
    if !KINDS.contains(&i.kind.as_str()) {
        errors.push(FieldError::new(
            "kind",
            format!("one of: {}", KINDS.join(", ")),
        ));
    }
    let db = ctx.db()?;
    if let Some(parent) = &i.parent_id {
        match categories::get(&db, parent).await? {
            None => errors.push(FieldError::new("parent_id", "no such category")),
            Some(p) if p.parent_id.is_some() => errors.push(FieldError::new(
                "parent_id",
                "categories nest two levels deep at most; pick a top-level parent",
            )),
            Some(p) if p.id == id => errors.push(FieldError::new(
                "parent_id",
                "a category cannot be its own parent",
            )),
            Some(_) => {}
        }
    }
    dto::done(errors)?;
    let now = chrono::Utc::now().timestamp_millis();
    let row = CategoryRow {
        id,
        name: i.name.trim().to_owned(),
        parent_id: i.parent_id,
        kind: i.kind,
        created_at: created_at.unwrap_or(now),
        updated_at: now,
    };
    match categories::upsert(&db, &ctx.state.read_model, &row).await {
        Err(crate::db::DbError::Conflict { .. }) => {
            return Err(ApiError::Conflict(format!(
                "a category named `{}` exists there",
                row.name
            )));
        }
        other => other?,
    }
    ctx.audit(
        ctx.who(),
        "category.save",
        format!("category:{}", row.name),
        "success",
        None,
    );
    Ok(row.into())
}

/// Categories (flat; children name their `parent_id`).
#[utoipa::path(tag = "financial", responses((status = 200, description = "Categories", body = [Category])))]
#[get("/v1/financial/categories")]
pub async fn list_categories(ctx: Ctx) -> Result<HttpResponse, ApiError> {
    // The body is rendered once per change and kept in the read model (invalidated with it).
    let body = ctx
        .state
        .read_model
        .categories_body(&ctx.db()?, |rows| {
            let list: Vec<Category> = rows.iter().cloned().map(Category::from).collect();
            // Strings and timestamps only: serde_json cannot fail on them.
            serde_json::to_vec(&list)
                .expect("categories serialize")
                .into()
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(mime::APPLICATION_JSON)
        .body(body))
}

/// Create a category.
#[utoipa::path(tag = "financial", request_body = CategoryInput, responses((status = 201, description = "Created", body = Category), (status = 409, description = "Name taken", body = crate::error::Problem)))]
#[post("/v1/financial/categories")]
#[tracing::instrument(skip_all)]
pub async fn create_category(
    ctx: Ctx,
    body: ApiJson<CategoryInput>,
) -> Result<HttpResponse, ApiError> {
    let c = save(
        &ctx,
        uuid::Uuid::now_v7().to_string(),
        body.into_inner(),
        None,
    )
    .await?;
    Ok(HttpResponse::Created().json(c))
}

/// Replace a category.
#[utoipa::path(tag = "financial", request_body = CategoryInput, params(("id" = String, Path)), responses((status = 200, description = "Updated", body = Category), (status = 404, description = "No such category", body = crate::error::Problem)))]
#[put("/v1/financial/categories/{id}")]
#[tracing::instrument(skip_all, fields(category = %id))]
pub async fn update_category(
    ctx: Ctx,
    id: web::Path<String>,
    body: ApiJson<CategoryInput>,
) -> Result<web::Json<Category>, ApiError> {
    let c = categories::get(&ctx.db()?, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no category {id}")))?;
    Ok(web::Json(
        save(&ctx, c.id, body.into_inner(), Some(c.created_at)).await?,
    ))
}

/// Delete a category without children; its transactions become uncategorized.
#[utoipa::path(tag = "financial", params(("id" = String, Path)), responses((status = 204, description = "Deleted"), (status = 404, description = "No such category", body = crate::error::Problem), (status = 409, description = "Has children", body = crate::error::Problem)))]
#[delete("/v1/financial/categories/{id}")]
#[tracing::instrument(skip_all, fields(category = %id))]
pub async fn delete_category(ctx: Ctx, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let db = ctx.db()?;
    let c = categories::get(&db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no category {id}")))?;
    if !categories::delete(&db, &ctx.state.read_model, &c.id).await? {
        return Err(ApiError::Conflict(
            "the category has children; delete or move them first".to_owned(),
        ));
    }
    ctx.audit(
        ctx.who(),
        "category.delete",
        format!("category:{}", c.name),
        "success",
        None,
    );
    Ok(HttpResponse::NoContent().finish())
}
