//! What the processor learns from an upload's bytes: its checksum, whether the content is what was declared
//! (a `.csv` that is really an executable is rejected), and a summary: the columns, inferred types, row count
//! and first rows of a CSV, JSON or XLSX table; an image's dimensions and a thumbnail.
//!
//! Every pass is bounded whatever the bytes say: files are at most [`crate::model::MAX_FILE_BYTES`]; JSON nests
//! at most 128 deep (serde_json's limit); an XLSX's archive is refused above [`MAX_UNPACKED_BYTES`] unpacked or
//! [`MAX_ARCHIVE_ENTRIES`] entries (zip bombs), and its cells are streamed, never laid out as a dense grid; an
//! image is decoded for its thumbnail only within [`MAX_IMAGE_SIDE`] pixels a side and [`MAX_DECODE_BYTES`].
//! Summaries keep [`MAX_COLUMNS`] columns, [`PREVIEW_ROWS`] rows and [`MAX_CELL_CHARS`] characters a cell.

use std::io::{Cursor, Read};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::model::Kind;
pub use crate::summary::{Column, ColumnType, Inspection, Rejection};

pub const MAX_COLUMNS: usize = 200;
pub const PREVIEW_ROWS: usize = 10;
pub const MAX_CELL_CHARS: usize = 200;
/// Rows whose values decide a column's type.
pub const TYPED_ROWS: usize = 1_000;
pub const MAX_UNPACKED_BYTES: u64 = 64 * 1024 * 1024;
pub const MAX_ARCHIVE_ENTRIES: usize = 10_000;
pub const MAX_IMAGE_SIDE: u32 = 10_000;
pub const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
/// The thumbnail's longest side, in pixels.
pub const THUMBNAIL_SIDE: u32 = 128;

/// The processor's result for one file.
#[derive(Debug)]
pub struct Outcome {
    pub sha256: String,
    pub inspection: Inspection,
    /// A PNG, for images.
    pub thumbnail: Option<Vec<u8>>,
}

/// Checks and summarises `bytes` declared as `kind`. CPU-bound: run it off the async workers.
pub fn inspect(kind: Kind, bytes: &[u8]) -> Result<Outcome, Rejection> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    sniff(kind, bytes)?;
    let (inspection, thumbnail) = match kind {
        Kind::Csv => (csv_table(text(bytes)?)?, None),
        Kind::Json => (json_table(text(bytes)?)?, None),
        Kind::Text => (Inspection::Text { lines: text(bytes)?.lines().count() as u64 }, None),
        Kind::Xlsx => (xlsx_table(bytes)?, None),
        Kind::Image => image(bytes)?,
        Kind::Pdf => (Inspection::Document, None),
    };
    Ok(Outcome { sha256, inspection, thumbnail })
}

/// The content is what was declared: never an executable; text is text; binary formats carry their magic.
pub fn sniff(kind: Kind, bytes: &[u8]) -> Result<(), Rejection> {
    let found = infer::get(bytes);
    if found.is_some_and(|t| t.matcher_type() == infer::MatcherType::App) || bytes.starts_with(b"#!") {
        return Err(Rejection::new("executable_content", "The file is an executable, whatever its name says"));
    }
    let mismatch = |what: &str| {
        let seen = found.map_or("unrecognised binary data", |t| t.mime_type());
        Err(Rejection::new("content_mismatch", format!("Declared {what}, but the content is {seen}")))
    };
    match kind {
        Kind::Csv | Kind::Json | Kind::Text => {
            if found.is_some() || bytes.contains(&0) {
                return mismatch("text");
            }
            Ok(())
        }
        Kind::Image => match found.map(|t| t.mime_type()) {
            Some("image/png" | "image/jpeg" | "image/gif" | "image/webp") => Ok(()),
            _ => mismatch("an image"),
        },
        Kind::Pdf if found.is_some_and(|t| t.mime_type() == "application/pdf") => Ok(()),
        Kind::Pdf => mismatch("a PDF"),
        Kind::Xlsx if bytes.starts_with(b"PK\x03\x04") => Ok(()),
        Kind::Xlsx => mismatch("an XLSX workbook"),
    }
}

/// UTF-8 text without its byte-order mark.
fn text(bytes: &[u8]) -> Result<&str, Rejection> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| Rejection::new("invalid_text", format!("The file is not UTF-8 text: {e}")))
}

/// Builds a table summary row by row.
struct TableBuilder {
    names: Vec<String>,
    types: Vec<Option<ColumnType>>,
    preview: Vec<Map<String, Value>>,
    rows: u64,
    truncated: bool,
}

impl TableBuilder {
    fn new(header: impl IntoIterator<Item = String>) -> Self {
        let mut names: Vec<String> = Vec::new();
        let mut truncated = false;
        for (i, raw) in header.into_iter().enumerate() {
            if names.len() == MAX_COLUMNS {
                truncated = true;
                break;
            }
            let raw = cut(raw.trim());
            let name = if raw.is_empty() || names.contains(&raw) { format!("column_{}", i + 1) } else { raw };
            names.push(name);
        }
        let types = vec![None; names.len()];
        Self { names, types, preview: Vec::new(), rows: 0, truncated }
    }

    /// A new column seen in a JSON row (objects may differ in their keys).
    fn column(&mut self, name: &str) -> Option<usize> {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return Some(i);
        }
        if self.names.len() == MAX_COLUMNS {
            self.truncated = true;
            return None;
        }
        self.names.push(cut(name));
        self.types.push(None);
        Some(self.names.len() - 1)
    }

    /// One data row: its cells by column index.
    fn row(&mut self, cells: impl IntoIterator<Item = (usize, Value)>) {
        let typed = self.rows < TYPED_ROWS as u64;
        let previewed = self.preview.len() < PREVIEW_ROWS;
        let mut shown = Map::new();
        for (i, value) in cells {
            if i >= self.names.len() {
                self.truncated |= !value.is_null();
                continue;
            }
            if typed && let Some(kind) = type_of(&value) {
                self.types[i] = Some(merge(self.types[i], kind));
            }
            if previewed {
                shown.insert(self.names[i].clone(), shortened(value));
            }
        }
        if previewed {
            self.preview.push(shown);
        }
        self.rows += 1;
    }

    fn finish(self, sheet: Option<String>) -> Inspection {
        let columns = self
            .names
            .into_iter()
            .zip(self.types)
            .map(|(name, kind)| Column { name, kind: kind.unwrap_or(ColumnType::Empty) })
            .collect();
        Inspection::Table {
            columns,
            row_count: self.rows,
            preview: self.preview,
            columns_truncated: self.truncated,
            sheet,
        }
    }
}

fn cut(s: &str) -> String {
    s.chars().take(MAX_CELL_CHARS).collect()
}

fn shortened(value: Value) -> Value {
    match value {
        Value::String(s) if s.chars().count() > MAX_CELL_CHARS => Value::String(cut(&s)),
        Value::Object(_) | Value::Array(_) => {
            let text = value.to_string();
            if text.chars().count() > MAX_CELL_CHARS { Value::String(cut(&text)) } else { value }
        }
        other => other,
    }
}

/// The type a value suggests; `None` for an empty one.
fn type_of(value: &Value) -> Option<ColumnType> {
    match value {
        Value::Null => None,
        Value::Bool(_) => Some(ColumnType::Boolean),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(ColumnType::Integer),
        Value::Number(_) => Some(ColumnType::Number),
        Value::String(s) => text_type(s),
        Value::Array(_) | Value::Object(_) => Some(ColumnType::Json),
    }
}

/// What a cell's text looks like (CSV cells are all text).
fn text_type(s: &str) -> Option<ColumnType> {
    let s = s.trim();
    if s.is_empty() {
        None
    } else if s.parse::<i64>().is_ok() {
        Some(ColumnType::Integer)
    } else if s.parse::<f64>().is_ok_and(f64::is_finite) {
        Some(ColumnType::Number)
    } else if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") {
        Some(ColumnType::Boolean)
    } else if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
        || chrono::DateTime::parse_from_rfc3339(s).is_ok()
    {
        Some(ColumnType::Date)
    } else {
        Some(ColumnType::Text)
    }
}

/// A column's type so far with one more value's: integers widen to numbers, anything else mixed is text.
fn merge(so_far: Option<ColumnType>, next: ColumnType) -> ColumnType {
    use ColumnType::{Integer, Number, Text};
    match so_far {
        None => next,
        Some(a) if a == next => a,
        Some(Integer | Number) if matches!(next, Integer | Number) => Number,
        Some(_) => Text,
    }
}

fn csv_table(text: &str) -> Result<Inspection, Rejection> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(Ok(record)) => record.iter().map(str::to_owned).collect::<Vec<_>>(),
        Some(Err(e)) => return Err(invalid_csv(&e)),
        None => Vec::new(),
    };
    let mut table = TableBuilder::new(header);
    for record in records {
        let record = record.map_err(|e| invalid_csv(&e))?;
        table.row(record.iter().enumerate().map(|(i, cell)| {
            let value = if cell.is_empty() { Value::Null } else { Value::String(cell.to_owned()) };
            (i, value)
        }));
    }
    Ok(table.finish(None))
}

fn invalid_csv(e: &csv::Error) -> Rejection {
    let line = e.position().map(|p| format!(" (line {})", p.line())).unwrap_or_default();
    Rejection::new("invalid_csv", format!("The CSV could not be read{line}"))
}

fn json_table(text: &str) -> Result<Inspection, Rejection> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Rejection::new("invalid_json", format!("The JSON could not be read: {e}")))?;
    let rows = match value {
        Value::Array(rows) => rows,
        Value::Object(_) => vec![value],
        _ => return Err(Rejection::new("invalid_json", "The JSON must be an array of objects, or one object")),
    };
    let mut table = TableBuilder::new(Vec::new());
    for row in rows {
        let Value::Object(fields) = row else {
            return Err(Rejection::new("invalid_json", "The JSON must be an array of objects, or one object"));
        };
        let cells: Vec<(usize, Value)> =
            fields.into_iter().filter_map(|(name, value)| table.column(&name).map(|i| (i, value))).collect();
        table.row(cells);
    }
    Ok(table.finish(None))
}

/// The workbook's first sheet, streamed cell by cell.
fn xlsx_table(bytes: &[u8]) -> Result<Inspection, Rejection> {
    check_archive(bytes)?;
    use calamine::{Reader, Xlsx};
    let unreadable =
        |e: calamine::XlsxError| Rejection::new("invalid_xlsx", format!("The workbook could not be read: {e}"));
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(unreadable)?;
    let Some(sheet) = workbook.sheet_names().first().cloned() else {
        return Err(Rejection::new("invalid_xlsx", "The workbook has no sheet"));
    };
    let mut cells = workbook.worksheet_cells_reader(&sheet).map_err(unreadable)?;
    // Cells come in sheet order: the first row holds the names; later rows are data.
    let mut header_row: Option<u32> = None;
    let mut names: Vec<(usize, String)> = Vec::new();
    let mut table: Option<TableBuilder> = None;
    let mut current: Option<(u32, Vec<(usize, Value)>)> = None;
    while let Some(cell) = cells.next_cell().map_err(unreadable)? {
        let (row, col) = cell.get_position();
        let (col, value) = (col as usize, xlsx_value(cell.get_value()));
        if *header_row.get_or_insert(row) == row {
            if col <= MAX_COLUMNS {
                names.push((col, value_text(&value)));
            }
            continue;
        }
        let table = table.get_or_insert_with(|| names_to_table(&names));
        match &mut current {
            Some((r, values)) if *r == row => values.push((col, value)),
            _ => {
                if let Some((_, values)) = current.take() {
                    table.row(values);
                }
                current = Some((row, vec![(col, value)]));
            }
        }
    }
    let mut table = table.unwrap_or_else(|| names_to_table(&names));
    if let Some((_, values)) = current {
        table.row(values);
    }
    Ok(table.finish(Some(sheet)))
}

/// The header row's names by column position (gaps get `column_N`).
fn names_to_table(names: &[(usize, String)]) -> TableBuilder {
    let width = names.iter().map(|(col, _)| col + 1).max().unwrap_or(0);
    let mut row = vec![String::new(); width];
    for (col, name) in names {
        row[*col] = name.clone();
    }
    TableBuilder::new(row)
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn xlsx_value(data: &calamine::DataRef<'_>) -> Value {
    use calamine::DataRef;
    match data {
        DataRef::Int(i) => Value::from(*i),
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(*f as i64),
        DataRef::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        DataRef::String(s) => Value::String(s.clone()),
        DataRef::SharedString(s) => Value::String((*s).to_owned()),
        DataRef::Bool(b) => Value::Bool(*b),
        DataRef::DateTime(d) => excel_date(d.as_f64()).map_or(Value::Null, Value::String),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Value::String(s.clone()),
        DataRef::Error(e) => Value::String(format!("#{e:?}")),
        DataRef::Empty => Value::Null,
    }
}

/// An Excel serial date (days since 1899-12-30, the fraction the time of day) as ISO 8601.
fn excel_date(serial: f64) -> Option<String> {
    if !serial.is_finite() || !(0.0..3_000_000.0).contains(&serial) {
        return None;
    }
    let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)?.and_hms_opt(0, 0, 0)?;
    let at = epoch + chrono::Duration::milliseconds((serial * 86_400_000.0).round() as i64);
    Some(if serial.fract() == 0.0 {
        at.format("%Y-%m-%d").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S").to_string()
    })
}

/// Refuses an archive that unpacks to more than it may (a zip bomb), before any XML parser sees it.
fn check_archive(bytes: &[u8]) -> Result<(), Rejection> {
    let invalid =
        |e: zip::result::ZipError| Rejection::new("invalid_xlsx", format!("The workbook is not a valid archive: {e}"));
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(invalid)?;
    if archive.len() > MAX_ARCHIVE_ENTRIES {
        return Err(Rejection::new(
            "archive_too_large",
            format!("The workbook holds more than {MAX_ARCHIVE_ENTRIES} parts"),
        ));
    }
    let mut declared: u64 = 0;
    let mut workbook = false;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(invalid)?;
        declared = declared.saturating_add(entry.size());
        workbook |= entry.name() == "xl/workbook.xml";
    }
    if declared > MAX_UNPACKED_BYTES {
        return Err(Rejection::new(
            "archive_too_large",
            format!("The workbook unpacks to more than {MAX_UNPACKED_BYTES} bytes"),
        ));
    }
    if !workbook {
        return Err(Rejection::new("content_mismatch", "Declared an XLSX workbook, but the archive holds no workbook"));
    }
    // The sizes above are what the archive claims: unpack once more, counting what really comes out.
    let mut unpacked: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(invalid)?;
        let limit = MAX_UNPACKED_BYTES.saturating_sub(unpacked) + 1;
        let n = std::io::copy(&mut entry.take(limit), &mut std::io::sink())
            .map_err(|e| Rejection::new("invalid_xlsx", format!("The workbook could not be unpacked: {e}")))?;
        unpacked += n;
        if unpacked > MAX_UNPACKED_BYTES {
            return Err(Rejection::new(
                "archive_too_large",
                format!("The workbook unpacks to more than {MAX_UNPACKED_BYTES} bytes"),
            ));
        }
    }
    Ok(())
}

fn image(bytes: &[u8]) -> Result<(Inspection, Option<Vec<u8>>), Rejection> {
    let invalid = |e: image::ImageError| Rejection::new("invalid_image", format!("The image could not be read: {e}"));
    let reader = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| invalid(e.into()))?;
    let (width, height) = reader.into_dimensions().map_err(invalid)?;
    let mut thumbnail = None;
    if width <= MAX_IMAGE_SIDE && height <= MAX_IMAGE_SIDE {
        let mut reader =
            image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| invalid(e.into()))?;
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_IMAGE_SIDE);
        limits.max_image_height = Some(MAX_IMAGE_SIDE);
        limits.max_alloc = Some(MAX_DECODE_BYTES);
        reader.limits(limits);
        let decoded = reader.decode().map_err(invalid)?;
        let mut png = Vec::new();
        decoded
            .thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(invalid)?;
        thumbnail = Some(png);
    }
    Ok((Inspection::Image { width, height, thumbnail: thumbnail.is_some() }, thumbnail))
}

#[cfg(test)]
mod tests;
