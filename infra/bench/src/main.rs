//! `cargo run -p bench --release -- [cold|http|airtable|all]`: runs the benchmarks and prints markdown
//! tables with each budget marked met or missed. `infra/bench/run.sh` builds what they need, starts the
//! services and writes the committed results file.

mod cold;
mod report;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let mut out = String::new();
    if matches!(which.as_str(), "cold" | "all") {
        out.push_str(&cold::run().await?);
    }
    if out.is_empty() {
        anyhow::bail!("unknown benchmark {which:?}: expected cold | all");
    }
    println!("{out}");
    Ok(())
}
