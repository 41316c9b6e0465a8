//! `bench [machine|cold|sizes|http|airtable|micro|all]…`: runs the benchmarks and prints markdown tables with
//! each budget marked met or missed. `infra/bench/run.sh` builds what they need (release binaries, the arm64
//! bootstraps, the criterion benches), starts the services and writes infra/bench/RESULTS.md.

mod cold;
mod economics;
mod http;
mod init_steps;
mod machine;
mod micro;
mod report;
mod runner;
mod sizes;
mod wrk;

use report::Budget;

const SECTIONS: [&str; 6] = ["machine", "cold", "sizes", "http", "airtable", "micro"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut asked: Vec<String> = std::env::args().skip(1).collect();
    if asked.is_empty() || asked.iter().any(|a| a == "all") {
        asked = SECTIONS.iter().map(|s| s.to_string()).collect();
    }
    if let Some(unknown) = asked.iter().find(|a| !SECTIONS.contains(&a.as_str())) {
        anyhow::bail!("unknown benchmark {unknown:?}: expected {} | all", SECTIONS.join(" | "));
    }
    let mut budgets: Vec<Budget> = Vec::new();
    let (mut machine, mut sections) = (String::new(), String::new());
    for section in &asked {
        eprintln!("bench: {section}…");
        let text = match section.as_str() {
            "machine" => {
                machine = machine::describe().await;
                print!("{machine}");
                continue;
            }
            "cold" => cold::run(&mut budgets).await?,
            "sizes" => sizes::run(&mut budgets)?,
            "http" => http::run(&mut budgets).await?,
            "airtable" => economics::run(&mut budgets).await?,
            _ => micro::run()?,
        };
        print!("{text}");
        sections.push_str(&text);
    }
    let summary = report::summary(&budgets);
    print!("{summary}");
    if let Some(path) = std::env::var_os("BENCH_RESULTS_FILE") {
        std::fs::write(&path, report::document(&machine, &summary, &sections))?;
        eprintln!("bench: wrote {}", std::path::Path::new(&path).display());
    }
    Ok(())
}
