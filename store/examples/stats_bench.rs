//! Measures the one-model statistics query on a generated history of the
//! acceptance size (50 models, 5,000 units, 100,000 tickets).
//!
//! ```sh
//! cargo run --release -p switchboard-store --example stats_bench -- sqlite:///tmp/stats.db?mode=rwc
//! cargo run --release -p switchboard-store --example stats_bench -- postgres://postgres@127.0.0.1/stats_bench
//! ```
//!
//! The history is written once (into the company `bench`, when it has no
//! tickets yet); then each of five models is asked 10 times, all time and
//! over one year, and the times are printed. A benchmark, not a test: it
//! asserts nothing about time.

use std::time::{Duration, Instant};

use switchboard_core::CompanyId;
use switchboard_store::stats::seed::{self, Sizes};
use switchboard_store::{StatsQuery, Store};
use time::macros::date;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1).ok_or("usage: stats_bench <store url>")?;
    let store = Store::connect(&url, 4).await?;
    store.migrate().await?;
    let company = CompanyId::parse("bench").map_err(|error| error.message)?;
    store.create_company(&company, "Bench").await?;
    let probe = store.equipment_stats(&company, &StatsQuery::for_dates("Model 00", None, None)).await?;
    if probe.tickets == 0 {
        let started = Instant::now();
        store.insert_history(&company, &seed::generate(1, Sizes::ACCEPTANCE)).await?;
        println!("seeded {:?} in {:.1} s", Sizes::ACCEPTANCE, started.elapsed().as_secs_f64());
    }
    for (label, from, to) in
        [("all time", None, None), ("2025", Some(date!(2025 - 01 - 01)), Some(date!(2025 - 12 - 31)))]
    {
        let mut times: Vec<Duration> = Vec::new();
        let mut tickets = 0;
        for model in [0, 7, 19, 33, 49] {
            let query = StatsQuery::for_dates(format!("Model {model:02}"), from, to);
            for _ in 0..10 {
                let started = Instant::now();
                tickets = store.equipment_stats(&company, &query).await?.tickets;
                times.push(started.elapsed());
            }
        }
        times.sort();
        let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
        println!(
            "{label}: one model (~{tickets} tickets): min {:.1} ms, median {:.1} ms, p90 {:.1} ms, max {:.1} ms over {} queries",
            ms(times[0]),
            ms(times[times.len() / 2]),
            ms(times[times.len() * 9 / 10]),
            ms(times[times.len() - 1]),
            times.len()
        );
    }
    store.close().await;
    Ok(())
}
