//! `GET|PUT /api/v1/notifications/templates/{type}` and `POST …/{type}/preview`: the tenant's templates
//! (tenant owners and admins). A template is checked before it is stored: it must parse and render the type's
//! sample data within the sandbox's limits ([`crate::templates`]); otherwise 400 `invalid_template` naming the
//! part and the line.

use axum::extract::{Path, Query, State};
use platform::{ApiError, ApiResult, Caller, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::SharedState;
use crate::consumer::effective_template;
use crate::preferences::{DEFAULT_LOCALE, is_locale};
use crate::records::TemplateOverride;
use crate::templates::{self, KINDS, MAX_SOURCE, Template, TemplateError};

fn require_admin(caller: &Caller) -> ApiResult<()> {
    if caller.is_tenant_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden("Only the tenant's owner and admins manage notification templates"))
    }
}

fn kind(name: &str) -> ApiResult<&'static templates::Kind> {
    templates::kind(name).ok_or_else(|| {
        let known: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        ApiError::not_found(format!("No such notification type (known: {})", known.join(", ")))
    })
}

fn locale(raw: Option<&str>) -> ApiResult<String> {
    match raw {
        None | Some("") => Ok(DEFAULT_LOCALE.to_string()),
        Some(tag) if is_locale(tag) => Ok(tag.to_string()),
        Some(_) => Err(ApiError::bad_request("invalid_field", "locale: a language tag such as en, fr or pt-BR")),
    }
}

fn refused(e: TemplateError) -> ApiError {
    let at = e.line.map(|l| format!(", line {l}")).unwrap_or_default();
    ApiError::bad_request("invalid_template", format!("{}{at}: {}", e.part, e.message))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    #[serde(rename = "type")]
    pub kind: String,
    pub locale: String,
    pub subject: String,
    pub body: String,
    /// `tenant` (the tenant's own) or `default` (built in).
    pub source: &'static str,
    pub category: events::Category,
    pub critical: bool,
    pub description: &'static str,
}

#[derive(Debug, Default, Deserialize)]
pub struct LocaleQuery {
    pub locale: Option<String>,
}

/// The template of a notification type in a locale: the tenant's, else the built-in one.
#[utoipa::path(get, path = "/api/v1/notifications/templates/{type}", tag = "notifications", operation_id = "get_notification_template",
    params(
        ("type" = String, Path, description = "Notification type, e.g. `api_key.created`"),
        ("locale" = Option<String>, Query, description = "Language tag (default `en`)", pattern = "^[a-z]{2,3}(-[A-Za-z0-9]{2,4})?$"),
    ),
    responses(
        (status = 200, description = "The template in force", body = TemplateView),
        (status = 400, description = "Invalid locale"),
        (status = 403, description = "Not the tenant's owner or an admin"),
        (status = 404, description = "No such notification type"),
    ))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<LocaleQuery>,
) -> ApiResult<Json<TemplateView>> {
    require_admin(&caller)?;
    let kind = kind(&name)?;
    let locale = locale(query.locale.as_deref())?;
    let (template, custom) = effective_template(&state.store, &caller.tenant_id, kind.name, &locale)
        .await?
        .ok_or_else(|| ApiError::not_found("No such notification type"))?;
    Ok(Json(TemplateView {
        kind: kind.name.to_string(),
        locale,
        subject: template.subject,
        body: template.body,
        source: if custom { "tenant" } else { "default" },
        category: kind.category,
        critical: kind.critical,
        description: kind.describe,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutTemplate {
    /// Default `en`.
    #[schema(min_length = 2, max_length = 8, pattern = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,4})?$")]
    pub locale: Option<String>,
    /// minijinja; rendered on one line, at most 200 bytes.
    #[schema(min_length = 1, max_length = 10000, pattern = r"\S")]
    pub subject: String,
    /// minijinja; plain text, at most 20,000 bytes rendered.
    #[schema(min_length = 1, max_length = 10000, pattern = r"\S")]
    pub body: String,
}

fn checked(kind: &str, subject: &str, body: &str) -> ApiResult<Template> {
    if subject.trim().is_empty() || body.trim().is_empty() {
        return Err(ApiError::bad_request("invalid_template", "subject and body must not be empty"));
    }
    if subject.len() > MAX_SOURCE || body.len() > MAX_SOURCE {
        return Err(ApiError::bad_request("invalid_template", format!("at most {MAX_SOURCE} bytes per part")));
    }
    let template = Template { subject: subject.to_string(), body: body.to_string() };
    templates::render(&template, &templates::sample_context(kind)).map_err(refused)?;
    Ok(template)
}

/// Set the tenant's template of a type in a locale (checked against sample data first).
#[utoipa::path(put, path = "/api/v1/notifications/templates/{type}", tag = "notifications", operation_id = "put_notification_template",
    request_body = PutTemplate,
    params(("type" = String, Path, description = "Notification type")),
    responses(
        (status = 200, description = "Stored", body = TemplateView),
        (status = 400, description = "The template does not parse or render the sample data (`invalid_template`, with the part and line), or an invalid locale or body"),
        (status = 403, description = "Not the tenant's owner or an admin"),
        (status = 404, description = "No such notification type"),
    ))]
pub async fn put(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<PutTemplate>,
) -> ApiResult<Json<TemplateView>> {
    require_admin(&caller)?;
    let kind = kind(&name)?;
    let locale = locale(body.locale.as_deref())?;
    let template = checked(kind.name, &body.subject, &body.body)?;
    let record = TemplateOverride {
        kind: kind.name.to_string(),
        locale: locale.clone(),
        subject: template.subject.clone(),
        body: template.body.clone(),
        updated_by: caller.user_id.clone(),
        updated_at: identity::now_rfc3339(),
    };
    state.store.put_template(&caller.tenant_id, &record).await?;
    Ok(Json(TemplateView {
        kind: kind.name.to_string(),
        locale,
        subject: template.subject,
        body: template.body,
        source: "tenant",
        category: kind.category,
        critical: kind.critical,
        description: kind.describe,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewTemplate {
    #[schema(min_length = 2, max_length = 8, pattern = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,4})?$")]
    pub locale: Option<String>,
    /// A draft subject; absent: the template in force.
    #[schema(min_length = 1, max_length = 10000, pattern = r"\S")]
    pub subject: Option<String>,
    /// A draft body; absent: the template in force.
    #[schema(min_length = 1, max_length = 10000, pattern = r"\S")]
    pub body: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    pub subject: String,
    pub body: String,
}

/// Render a draft (or the template in force) against sample data.
#[utoipa::path(post, path = "/api/v1/notifications/templates/{type}/preview", tag = "notifications", operation_id = "preview_notification_template",
    request_body = PreviewTemplate,
    params(("type" = String, Path, description = "Notification type")),
    responses(
        (status = 200, description = "Rendered against sample data", body = Preview),
        (status = 400, description = "The draft does not parse or render (`invalid_template`), or an invalid locale or body"),
        (status = 403, description = "Not the tenant's owner or an admin"),
        (status = 404, description = "No such notification type"),
    ))]
pub async fn preview(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<PreviewTemplate>,
) -> ApiResult<Json<Preview>> {
    require_admin(&caller)?;
    let kind = kind(&name)?;
    let locale = locale(body.locale.as_deref())?;
    let (current, _) = effective_template(&state.store, &caller.tenant_id, kind.name, &locale)
        .await?
        .ok_or_else(|| ApiError::not_found("No such notification type"))?;
    let subject = body.subject.unwrap_or(current.subject);
    let text = body.body.unwrap_or(current.body);
    let template = checked(kind.name, &subject, &text)?;
    let rendered = templates::render(&template, &templates::sample_context(kind.name)).map_err(refused)?;
    Ok(Json(Preview { subject: rendered.subject, body: rendered.body }))
}
