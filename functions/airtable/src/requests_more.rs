//! The upstream requests behind the rest of the `/v0` surface — record comments, webhooks, meta writes and
//! attachment uploads — and the one place they meet the gateway core: [`send`]. Every one of them passes the
//! limiter; none is cached (comments, webhooks) or each invalidates what it changes ([`Changes`]).
//!
//! Nothing here is cached, so nothing can leak between tenants: the cache keys of the reads these writes
//! invalidate stay the core's (tenant- and credential-scoped).

use axum::http::Method;
use bytes::Bytes;
use platform::Caller;

use crate::error::{Failure, GatewayError};
use crate::gateway::{Gateway, Write};
use crate::ids::{BaseId, RecordId, TableRef};
use crate::upstream::UpstreamRequest;

/// What a request changes upstream, i.e. which cached reads it makes stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Changes {
    /// Nothing any cached read shows (webhooks, comment reads).
    Nothing,
    /// The table's records: a comment write changes `commentCount` (`recordMetadata[]=commentCount`).
    Table(TableRef),
    /// The base's schema, and the records of the table named (a renamed field renames record cells).
    Schema(Option<TableRef>),
    /// Records of any table of the base (an upload names the record, not its table).
    Base,
}

/// One call: the request, the base it counts against, and what it changes.
pub struct Call {
    pub base: BaseId,
    pub request: UpstreamRequest,
    pub changes: Changes,
}

fn segments(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

impl Call {
    fn new(method: Method, base: &BaseId, segments: Vec<String>, changes: Changes) -> Self {
        let read = method == Method::GET;
        Self {
            base: base.clone(),
            request: UpstreamRequest {
                method,
                segments,
                query: Vec::new(),
                body: None,
                base: Some(base.clone()),
                read,
            },
            changes,
        }
    }

    pub fn query(mut self, query: Vec<(String, String)>) -> Self {
        self.request.query = query;
        self
    }

    pub fn body(mut self, body: Bytes) -> Self {
        self.request.body = Some(body);
        self
    }
}

// ---- record comments: /v0/{baseId}/{tableIdOrName}/{recordId}/comments[/{rowCommentId}]

fn comments_path(base: &BaseId, table: &TableRef, record: &RecordId, comment: Option<&str>) -> Vec<String> {
    let mut path = segments(&["v0", base.as_str(), table.as_str(), record.as_str(), "comments"]);
    path.extend(comment.map(String::from));
    path
}

pub fn list_comments(base: &BaseId, table: &TableRef, record: &RecordId) -> Call {
    Call::new(Method::GET, base, comments_path(base, table, record, None), Changes::Nothing)
}

/// POST (create), PATCH (update `comment`) or DELETE (`comment`): each changes the record's `commentCount`.
pub fn write_comment(
    method: Method,
    base: &BaseId,
    table: &TableRef,
    record: &RecordId,
    comment: Option<&str>,
) -> Call {
    Call::new(method, base, comments_path(base, table, record, comment), Changes::Table(table.clone()))
}

// ---- webhooks: /v0/bases/{baseId}/webhooks[/{webhookId}[/{action}]]

/// `webhook` and `action` (`refresh`, `enableNotifications`, `payloads`) narrow the path.
pub fn webhooks(method: Method, base: &BaseId, webhook: Option<&str>, action: Option<&str>) -> Call {
    let mut path = segments(&["v0", "bases", base.as_str(), "webhooks"]);
    path.extend(webhook.map(String::from));
    path.extend(action.map(String::from));
    Call::new(method, base, path, Changes::Nothing)
}

// ---- meta writes: /v0/meta/bases/{baseId}/tables[/{tableIdOrName}[/fields[/{fieldId}]]]

pub fn create_table(base: &BaseId) -> Call {
    Call::new(Method::POST, base, segments(&["v0", "meta", "bases", base.as_str(), "tables"]), Changes::Schema(None))
}

pub fn update_table(base: &BaseId, table: &TableRef) -> Call {
    let path = segments(&["v0", "meta", "bases", base.as_str(), "tables", table.as_str()]);
    Call::new(Method::PATCH, base, path, Changes::Schema(Some(table.clone())))
}

/// POST a new field (`field: None`) or PATCH one.
pub fn write_field(base: &BaseId, table: &TableRef, field: Option<&str>) -> Call {
    let mut path = segments(&["v0", "meta", "bases", base.as_str(), "tables", table.as_str(), "fields"]);
    path.extend(field.map(String::from));
    let method = if field.is_some() { Method::PATCH } else { Method::POST };
    Call::new(method, base, path, Changes::Schema(Some(table.clone())))
}

// ---- uploadAttachment: /v0/{baseId}/{recordId}/{attachmentFieldIdOrName}/uploadAttachment

/// Airtable serves this one on `content.airtable.com` (the upstream client sends it to
/// `AIRTABLE_CONTENT_URL`).
pub fn upload_attachment(base: &BaseId, record: &RecordId, field: &str) -> Call {
    let path = segments(&["v0", base.as_str(), record.as_str(), field, "uploadAttachment"]);
    Call::new(Method::POST, base, path, Changes::Base)
}

/// Whether a write may have changed Airtable: it succeeded, or its outcome is unknown (no answer, or a 5xx).
fn may_have_changed(outcome: &Result<Bytes, Failure>) -> bool {
    match outcome.as_ref().map_err(|e| &**e) {
        Ok(_) | Err(GatewayError::Unavailable { .. }) => true,
        Err(GatewayError::Upstream { status, .. }) => status.is_server_error(),
        Err(_) => false,
    }
}

/// Sends `call` upstream through the limiter, then invalidates what it changed — also when the outcome is
/// unknown (a timeout or a 5xx may still have changed the base).
pub async fn send(gateway: &Gateway, caller: &Caller, call: Call) -> Result<Bytes, Failure> {
    let Call { base, request, changes } = call;
    match changes {
        Changes::Nothing => gateway.send(caller, request).await,
        Changes::Table(table) => gateway.write(caller, Write { base, table, request }).await,
        Changes::Schema(table) => {
            let outcome = match table {
                Some(table) => gateway.write(caller, Write { base: base.clone(), table, request }).await,
                None => gateway.send(caller, request).await,
            };
            if may_have_changed(&outcome) {
                gateway.invalidate_schema(&base).await;
            }
            outcome
        }
        Changes::Base => {
            let outcome = gateway.send(caller, request).await;
            if may_have_changed(&outcome) {
                gateway.invalidate_base(&base).await;
            }
            outcome
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_a_success_or_an_unknown_outcome_may_have_changed_airtable() {
        use axum::http::StatusCode;
        use std::sync::Arc;
        let upstream = |status| Err(Arc::new(GatewayError::Upstream { status, body: Bytes::new(), retry_after: None }));
        assert!(may_have_changed(&Ok(Bytes::new())));
        assert!(may_have_changed(&upstream(StatusCode::BAD_GATEWAY)));
        assert!(!may_have_changed(&upstream(StatusCode::UNPROCESSABLE_ENTITY)));
        assert!(!may_have_changed(&Err(Arc::new(GatewayError::invalid("x")))));
        let unavailable = GatewayError::Unavailable { timed_out: true, source: anyhow::anyhow!("t") };
        assert!(may_have_changed(&Err(Arc::new(unavailable))));
    }

    #[test]
    fn paths_are_airtables() {
        let base = BaseId::parse("appDemoBase000001").unwrap();
        let table = TableRef::parse("My Table").unwrap();
        let record = RecordId::parse("recProj0000000001").unwrap();
        let call = write_comment(Method::PATCH, &base, &table, &record, Some("comAAAAAAAAAAAAAA"));
        assert_eq!(
            call.request.segments,
            ["v0", "appDemoBase000001", "My Table", "recProj0000000001", "comments", "comAAAAAAAAAAAAAA"]
        );
        assert_eq!(call.changes, Changes::Table(table.clone()));
        assert!(!call.request.read);
        let call = webhooks(Method::GET, &base, Some("achAAAAAAAAAAAAAA"), Some("payloads"));
        assert_eq!(
            call.request.segments,
            ["v0", "bases", "appDemoBase000001", "webhooks", "achAAAAAAAAAAAAAA", "payloads"]
        );
        assert!(call.request.read);
        let call = write_field(&base, &table, Some("fldAAAAAAAAAAAAAA"));
        assert_eq!(call.request.method, Method::PATCH);
        assert_eq!(call.request.segments[..6], ["v0", "meta", "bases", "appDemoBase000001", "tables", "My Table"]);
        let call = upload_attachment(&base, &record, "Files");
        assert_eq!(
            call.request.segments,
            ["v0", "appDemoBase000001", "recProj0000000001", "Files", "uploadAttachment"]
        );
        assert_eq!(call.changes, Changes::Base);
    }
}
