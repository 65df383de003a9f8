//! `cargo run --release -p studio-tests --bin bench [NAME...]`: prints the figures that
//! BENCHMARKS.md records. Names: `describe` (default: all).
//!
//! Timings are wall-clock per call over many calls, reported as percentiles; run on an
//! otherwise idle machine, release build.

use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let total: Duration = samples.iter().sum();
    println!(
        "{name:<28} n={:<7} p50={:>9.2?} p90={:>9.2?} p99={:>9.2?} max={:>9.2?} mean={:>9.2?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.90),
        percentile(&samples, 0.99),
        samples[samples.len() - 1],
        total / samples.len() as u32,
    );
}

fn phrasings() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/describe_phrasings.tsv");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t').map(|(_, t)| t.to_owned()))
        .collect()
}

fn bench_describe() {
    let texts = phrasings();
    // First call builds the catalog and matcher tables: reported apart, as a cold start.
    let start = Instant::now();
    let _ = shared::describe::describe("warm up");
    println!(
        "describe: first call (parses the catalog, builds tables): {:.2?}",
        start.elapsed()
    );
    let mut samples = Vec::with_capacity(texts.len() * 200);
    for _ in 0..200 {
        for text in &texts {
            let start = Instant::now();
            let described = shared::describe::describe(text);
            samples.push(start.elapsed());
            std::hint::black_box(described.ok());
        }
    }
    report("describe (per sentence)", samples);
}

fn main() {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    let all = wanted.is_empty();
    if all || wanted.iter().any(|w| w == "describe") {
        bench_describe();
    }
}
