//! `uploadAttachment`: a file of at most 5 MB, base64 in a JSON body, appended to a record's attachment
//! cell. Airtable's path is `/v0/{baseId}/{recordId}/{attachmentFieldIdOrName}/uploadAttachment` (on
//! `content.airtable.com`); here its second and third segments are named `{tableIdOrName}` and `{recordId}`
//! because API Gateway (and the router) allow one parameter name per position of the path tree, and the
//! record routes named them first.
//!
//! The size a client can actually send is the smallest of: Airtable's 5 MB decoded; `MAX_BODY_BYTES` (default
//! 1 MiB → about 760 KiB of file once base64 and JSON are paid for); on AWS, Lambda's 6 MB request payload
//! (→ about 4.4 MB of file). The record's table is not in the path, so an upload invalidates the cached
//! record reads of the whole base.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use bytes::Bytes;
use platform::Caller;
use serde::Deserialize;
use utoipa::ToSchema;

use super::body::parse;
use super::{Answer, not_found, record};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::ids::BaseId;
use crate::requests_more::{self, send};
use crate::routes::respond::json;

/// Airtable's limit on an uploaded file, decoded.
pub const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;

/// `POST …/uploadAttachment`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AirtableUploadAttachment {
    /// The file's MIME type, e.g. `image/jpeg` (printable ASCII).
    #[schema(max_length = 255, pattern = "^[ -~]*/[ -~]*$")]
    content_type: String,
    /// The file in canonical base64 (standard alphabet, padded; line breaks between 4-character groups, as
    /// Python's `base64.encodebytes` writes them). At most 5 MiB once decoded — in practice less: the whole
    /// body must fit MAX_BODY_BYTES (default 1 MiB) and, on AWS, Lambda's 6 MB payload.
    #[schema(
        pattern = "^(?:[A-Za-z0-9+/]{4}[\\r\\n]*)*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?[\\r\\n]*$"
    )]
    file: String,
    /// The file's name, e.g. `report.pdf`: no `/`, not only spaces.
    #[schema(
        max_length = 255,
        pattern = "^[^/]*[^/\\x00-\\x20\\x7f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^/]*$"
    )]
    filename: String,
}

const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn not_base64() -> GatewayError {
    GatewayError::invalid("file must be canonical base64 (standard alphabet, padded)")
}

/// The decoded size of canonical base64 (the schema's `file` pattern, checked without decoding): groups of
/// four symbols, line breaks only between groups, `=` padding only in the last group with its unused bits
/// zero.
fn decoded_len(file: &str) -> Result<usize, GatewayError> {
    let (mut symbols, mut in_group, mut padding) = (0usize, 0usize, 0usize);
    let mut previous = 0u8;
    for byte in file.bytes() {
        match byte {
            b'\r' | b'\n' if in_group == 0 => {}
            b'=' if padding == 0 && (in_group == 2 || in_group == 3) => {
                // The symbol before the padding may not carry bits the padding drops.
                let bits = BASE64.iter().position(|b| *b == previous).unwrap_or(0);
                let unused = if in_group == 2 { 0b1111 } else { 0b11 };
                if bits & unused != 0 {
                    return Err(not_base64());
                }
                padding = 1;
                in_group = if in_group == 3 { 0 } else { 3 };
            }
            b'=' if padding == 1 && in_group == 3 => {
                padding = 2;
                in_group = 0;
            }
            _ if padding == 0 && BASE64.contains(&byte) => {
                symbols += 1;
                in_group = (in_group + 1) % 4;
                previous = byte;
            }
            _ => return Err(not_base64()),
        }
    }
    if in_group != 0 {
        return Err(not_base64());
    }
    Ok(symbols * 3 / 4)
}

/// Printable ASCII with a `/`: the schema's `contentType` pattern.
fn content_type(value: &str) -> Result<(), GatewayError> {
    let printable = value.bytes().all(|b| (b' '..=b'~').contains(&b));
    if printable && value.contains('/') && value.len() <= 255 {
        Ok(())
    } else {
        Err(GatewayError::invalid("contentType must be a MIME type, e.g. \"image/jpeg\""))
    }
}

/// Whitespace as both Rust's `trim` and the schema's pattern see it (plus the other ASCII controls).
fn blank(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{20}' | '\u{7f}'..='\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}')
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}')
}

/// No `/`, something but blanks, at most 255 characters: the schema's `filename`.
fn filename(value: &str) -> Result<(), GatewayError> {
    if !value.contains('/') && value.chars().any(|c| !blank(c)) && value.chars().count() <= 255 {
        Ok(())
    } else {
        Err(GatewayError::invalid("filename must be a file name (no `/`, at most 255 characters)"))
    }
}

fn field_name(raw: &str) -> Result<&str, GatewayError> {
    let ok = !raw.trim().is_empty() && raw.chars().count() <= 255 && !raw.chars().any(char::is_control);
    if ok { Ok(raw) } else { Err(GatewayError::not_found("Could not find the attachment field")) }
}

#[utoipa::path(post, path = "/v0/{baseId}/{tableIdOrName}/{recordId}/uploadAttachment", tag = "airtable-v0",
    params(
        ("baseId" = String, Path, description = "The base (app…)", pattern = "^app[A-Za-z0-9]{14}$"),
        ("tableIdOrName" = String, Path, description = "Here: the RECORD (rec…) — Airtable's `{recordId}` (see the path note in the operation)", pattern = "^rec[A-Za-z0-9]{14}$"),
        ("recordId" = String, Path, description = "Here: the attachment FIELD's id (fld…) or name — Airtable's `{attachmentFieldIdOrName}`", min_length = 1, max_length = 255),
    ),
    request_body(content = AirtableUploadAttachment, content_type = "application/json",
        description = "Airtable's path is `/v0/{baseId}/{recordId}/{attachmentFieldIdOrName}/uploadAttachment`; API Gateway names each path position once, so its segments carry the record routes' names here. The effective size limit is the smallest of 5 MiB decoded, MAX_BODY_BYTES (default 1 MiB of JSON) and, on AWS, Lambda's 6 MB payload."),
    responses(
        (status = 200, description = "`{id, createdTime, fields}`: the record's attachment cell with the new file (the base's cached record reads are invalidated)"),
        (status = 404, description = "No such base, record or field"),
        (status = 413, description = "The file is larger than 5 MiB decoded (`REQUEST_TOO_LARGE`), or the body than MAX_BODY_BYTES"),
        (status = 422, description = "The body is not `{contentType, file, filename}` with `file` in base64, or the field is not an attachment field"),
        (status = 429, description = "The base's request budget is spent (`Retry-After`)"),
        (status = 502, description = "Airtable could not be reached"),
        (status = 503, description = "The gateway has no Airtable credential"),
        (status = 504, description = "Airtable did not answer in time"),
    ))]
pub async fn upload_attachment(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path((base, id, field)): Path<(String, String, String)>,
    body: Bytes,
) -> Answer {
    let base = BaseId::parse(&base).ok_or_else(not_found)?;
    let (id, field) = (record(&id)?, field_name(&field)?);
    let upload: AirtableUploadAttachment = parse(&body, &["contentType", "file", "filename"], &[])?;
    content_type(&upload.content_type)?;
    filename(&upload.filename)?;
    if decoded_len(&upload.file)? > MAX_ATTACHMENT_BYTES {
        return Err(too_large().into());
    }
    let call = requests_more::upload_attachment(&base, &id, field).body(body);
    Ok(json(StatusCode::OK, send(&gateway, &caller, call).await?))
}

fn too_large() -> GatewayError {
    GatewayError::Invalid {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        kind: "REQUEST_TOO_LARGE",
        message: format!(
            "The attachment is larger than {} MiB: add large files by URL (an attachment cell's `url`)",
            MAX_ATTACHMENT_BYTES / (1024 * 1024)
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_canonical_base64_passes_and_its_size_is_read_without_decoding() {
        assert_eq!(decoded_len("SGVsbG8gd29ybGQ=").unwrap(), 11);
        assert_eq!(decoded_len("SGVsbG8gd29ybGQh").unwrap(), 12);
        assert_eq!(decoded_len("SGVs\nbG8g\r\nd29ybGQ=\n").unwrap(), 11, "line breaks as encodebytes writes them");
        assert_eq!((decoded_len("").unwrap(), decoded_len("\n").unwrap()), (0, 0));
        assert_eq!((decoded_len("QQ==").unwrap(), decoded_len("QUE=").unwrap()), (1, 2));
        for bad in
            ["SGVsbG8", "SGVs bG8=", "SG=Vs", "S===", "SGVsb", "SGVs!G8=", "QR==", "QUF=", "QQ=", "QQ==QQ==", "SG\nVs"]
        {
            assert!(decoded_len(bad).is_err(), "{bad:?}");
        }
        let big = "A".repeat((MAX_ATTACHMENT_BYTES / 3 + 1) * 4);
        assert!(decoded_len(&big).unwrap() > MAX_ATTACHMENT_BYTES);
    }

    #[test]
    fn content_types_and_filenames_are_what_the_schema_says() {
        assert!(content_type("text/plain; charset=utf-8").is_ok());
        for bad in ["text", "", "text/plain\u{7f}", "tëxt/plain"] {
            assert!(content_type(bad).is_err(), "{bad:?}");
        }
        assert!(filename("report 2024.pdf").is_ok());
        assert!(filename("\u{1c}").is_err(), "controls count as blank, as in the schema");
        for bad in ["", " \u{a0}\u{3000}", "a/b", &"é".repeat(256)] {
            assert!(filename(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_field_is_named_by_a_plain_name_or_id() {
        assert!(field_name("Files").is_ok());
        assert!(field_name("fldAAAAAAAAAAAAAA").is_ok());
        assert!(field_name(" ").is_err());
        assert!(field_name("a\u{0}b").is_err());
        assert!(field_name(&"x".repeat(256)).is_err());
    }
}
