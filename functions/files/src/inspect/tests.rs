#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Cursor, Write};

use serde_json::json;

use super::*;

/// A table's columns (name, type), row count, preview rows and whether columns were cut.
type Summary = (Vec<(String, ColumnType)>, u64, Vec<Map<String, Value>>, bool);

fn table(inspection: Inspection) -> Summary {
    match inspection {
        Inspection::Table { columns, row_count, preview, columns_truncated, .. } => {
            (columns.into_iter().map(|c| (c.name, c.kind)).collect(), row_count, preview, columns_truncated)
        }
        other => panic!("not a table: {other:?}"),
    }
}

fn code(result: Result<Outcome, Rejection>) -> String {
    result.expect_err("a rejection").code
}

#[test]
fn a_csv_gives_columns_types_count_and_preview() {
    let mut csv = String::from("\u{feff}name,age,score,active,joined,notes,\n");
    for i in 0..25 {
        csv.push_str(&format!(
            "person {i},{},{}.5,{},2024-01-{:02},\"a, quoted\nline\",\n",
            20 + i,
            i,
            i % 2 == 0,
            i + 1
        ));
    }
    let outcome = inspect(Kind::Csv, csv.as_bytes()).unwrap();
    assert_eq!(outcome.sha256, hex::encode(Sha256::digest(csv.as_bytes())));
    let (columns, rows, preview, truncated) = table(outcome.inspection);
    assert_eq!(
        columns,
        vec![
            ("name".into(), ColumnType::Text),
            ("age".into(), ColumnType::Integer),
            ("score".into(), ColumnType::Number),
            ("active".into(), ColumnType::Boolean),
            ("joined".into(), ColumnType::Date),
            ("notes".into(), ColumnType::Text),
            ("column_7".into(), ColumnType::Empty),
        ]
    );
    assert_eq!((rows, preview.len(), truncated), (25, PREVIEW_ROWS, false));
    assert_eq!(preview[1]["name"], json!("person 1"));
    assert_eq!(preview[1]["notes"], json!("a, quoted\nline"));
    assert_eq!(preview[1]["column_7"], Value::Null);
}

#[test]
fn integers_widen_to_numbers_and_mixed_columns_are_text() {
    let csv = "a,b\n1,1\n2.5,x\n";
    let (columns, ..) = table(inspect(Kind::Csv, csv.as_bytes()).unwrap().inspection);
    assert_eq!(columns, vec![("a".into(), ColumnType::Number), ("b".into(), ColumnType::Text)]);
}

#[test]
fn wide_tables_and_long_cells_are_cut() {
    let header: Vec<String> = (0..MAX_COLUMNS + 5).map(|i| format!("c{i}")).collect();
    let long = "y".repeat(MAX_CELL_CHARS * 3);
    let csv = format!("{}\n{long}\n", header.join(","));
    let (columns, rows, preview, truncated) = table(inspect(Kind::Csv, csv.as_bytes()).unwrap().inspection);
    assert_eq!((columns.len(), rows, truncated), (MAX_COLUMNS, 1, true));
    assert_eq!(preview[0]["c0"].as_str().map(|s| s.chars().count()), Some(MAX_CELL_CHARS));
}

#[test]
fn json_arrays_of_objects_are_tables_and_other_json_is_refused() {
    let body = json!([{"id": 1, "tags": ["a"], "when": "2024-05-01T10:00:00Z"}, {"id": 2, "extra": true}]);
    let (columns, rows, preview, _) = table(inspect(Kind::Json, body.to_string().as_bytes()).unwrap().inspection);
    assert_eq!(
        columns,
        vec![
            ("id".into(), ColumnType::Integer),
            ("tags".into(), ColumnType::Json),
            ("when".into(), ColumnType::Date),
            ("extra".into(), ColumnType::Boolean),
        ]
    );
    assert_eq!((rows, preview[1]["extra"].clone()), (2, json!(true)));
    assert_eq!(code(inspect(Kind::Json, b"[1, 2]")), "invalid_json");
    assert_eq!(code(inspect(Kind::Json, b"{\"a\": ")), "invalid_json");
    // Deeper than serde_json's recursion limit: refused, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(code(inspect(Kind::Json, deep.as_bytes())), "invalid_json");
}

#[test]
fn executables_are_rejected_whatever_they_are_declared_as() {
    let mut elf = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00".to_vec();
    elf.extend_from_slice(&[0; 64]);
    let mut pe = b"MZ\x90\x00".to_vec();
    pe.extend_from_slice(&[0; 60]);
    for kind in [Kind::Csv, Kind::Json, Kind::Text, Kind::Image, Kind::Pdf, Kind::Xlsx] {
        assert_eq!(code(inspect(kind, &elf)), "executable_content", "{kind:?}");
    }
    assert_eq!(code(inspect(Kind::Csv, &pe)), "executable_content");
    assert_eq!(code(inspect(Kind::Csv, b"#!/bin/sh\nrm -rf /\n")), "executable_content");
}

#[test]
fn content_must_be_what_was_declared() {
    let png = png(4, 3);
    assert_eq!(code(inspect(Kind::Csv, &png)), "content_mismatch");
    assert_eq!(code(inspect(Kind::Image, b"a,b\n1,2\n")), "content_mismatch");
    assert_eq!(code(inspect(Kind::Text, b"nul\0inside")), "content_mismatch");
    assert_eq!(code(inspect(Kind::Pdf, b"a,b\n")), "content_mismatch");
    assert_eq!(code(inspect(Kind::Xlsx, b"a,b\n")), "content_mismatch");
    assert_eq!(code(inspect(Kind::Csv, b"\xff\xfe not utf-8")), "invalid_text");
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 9]));
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

#[test]
fn images_give_dimensions_and_a_bounded_png_thumbnail() {
    let outcome = inspect(Kind::Image, &png(640, 320)).unwrap();
    assert_eq!(outcome.inspection, Inspection::Image { width: 640, height: 320, thumbnail: true });
    let thumbnail = image::load_from_memory(&outcome.thumbnail.unwrap()).unwrap();
    assert_eq!((thumbnail.width(), thumbnail.height()), (THUMBNAIL_SIDE, THUMBNAIL_SIDE / 2));
    let mut truncated = png(64, 64);
    truncated.truncate(truncated.len() / 2);
    assert_eq!(code(inspect(Kind::Image, &truncated)), "invalid_image");
}

/// A minimal workbook: one sheet with `rows` (inline strings and numbers).
fn xlsx(rows: &[&[Value]]) -> Vec<u8> {
    let mut sheet = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, row) in rows.iter().enumerate() {
        sheet.push_str(&format!(r#"<row r="{}">"#, r + 1));
        for (c, value) in row.iter().enumerate() {
            let cell = format!("{}{}", char::from(b'A' + c as u8), r + 1);
            match value {
                Value::Number(n) => sheet.push_str(&format!(r#"<c r="{cell}"><v>{n}</v></c>"#)),
                Value::Bool(b) => sheet.push_str(&format!(r#"<c r="{cell}" t="b"><v>{}</v></c>"#, u8::from(*b))),
                Value::String(s) => sheet.push_str(&format!(r#"<c r="{cell}" t="inlineStr"><is><t>{s}</t></is></c>"#)),
                _ => {}
            }
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    let parts = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_string(),
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_string(),
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="People" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_string(),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_string(),
        ),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    let mut out = Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    for (name, body) in parts {
        zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

#[test]
fn an_xlsx_first_sheet_is_a_table() {
    let bytes = xlsx(&[
        &[json!("name"), json!("qty"), json!("paid")],
        &[json!("ann"), json!(3), json!(true)],
        &[json!("bob"), json!(4.5), json!(false)],
    ]);
    let outcome = inspect(Kind::Xlsx, &bytes).unwrap();
    let Inspection::Table { sheet, .. } = &outcome.inspection else { panic!("{:?}", outcome.inspection) };
    assert_eq!(sheet.as_deref(), Some("People"));
    let (columns, rows, preview, _) = table(outcome.inspection);
    assert_eq!(
        columns,
        vec![
            ("name".into(), ColumnType::Text),
            ("qty".into(), ColumnType::Number),
            ("paid".into(), ColumnType::Boolean)
        ]
    );
    assert_eq!(rows, 2);
    assert_eq!(preview[0], json!({"name": "ann", "qty": 3, "paid": true}).as_object().cloned().unwrap());
}

#[test]
fn a_zip_bomb_is_refused_before_parsing() {
    let mut out = Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let deflated = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("xl/workbook.xml", deflated).unwrap();
    let zeros = vec![b' '; 1024 * 1024];
    for _ in 0..(MAX_UNPACKED_BYTES / zeros.len() as u64 + 1) {
        zip.write_all(&zeros).unwrap();
    }
    zip.finish().unwrap();
    let bytes = out.into_inner();
    assert!(bytes.len() < 1024 * 1024, "{} bytes", bytes.len());
    assert_eq!(code(inspect(Kind::Xlsx, &bytes)), "archive_too_large");
    assert_eq!(code(inspect(Kind::Xlsx, b"PK\x03\x04 not really")), "invalid_xlsx");
}
