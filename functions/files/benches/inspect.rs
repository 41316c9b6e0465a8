//! What processing costs per file: checksum, sniffing and inspection of a 100,000-row CSV (4.2 MB), a JSON
//! array of 20,000 objects, and a 2000×1500 PNG (dimensions and a 128 px thumbnail).
//! `cargo bench -p files --bench inspect`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::Cursor;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use files::inspect::inspect;
use files::model::Kind;

fn csv() -> Vec<u8> {
    let mut out = String::from("id,name,amount,when,flag\n");
    for i in 0..100_000 {
        out.push_str(&format!("{i},name {i},{},2024-01-{:02},{}\n", i as f64 * 1.5, i % 28 + 1, i % 2 == 0));
    }
    out.into_bytes()
}

fn json() -> Vec<u8> {
    let rows: Vec<_> = (0..20_000)
        .map(|i| serde_json::json!({"id": i, "name": format!("name {i}"), "tags": ["a", "b"], "ok": i % 2 == 0}))
        .collect();
    serde_json::to_vec(&rows).unwrap()
}

fn png() -> Vec<u8> {
    let image = image::RgbImage::from_fn(2000, 1500, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 77]));
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("inspect");
    group.sample_size(10);
    for (name, kind, bytes) in [
        ("csv_100k_rows", Kind::Csv, csv()),
        ("json_20k_objects", Kind::Json, json()),
        ("png_2000x1500", Kind::Image, png()),
    ] {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| b.iter(|| inspect(kind, black_box(&bytes)).unwrap()));
    }
    group.finish();
}

criterion_group!(inspection, benches);
criterion_main!(inspection);
