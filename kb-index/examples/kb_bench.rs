//! Load figures for the knowledge base with 10,000 or more articles: index
//! build time (RAM and disk), search latency percentiles on one thread (on
//! first meeting the queries, and again once their words are met: the
//! `met_` figures), and queries per second on one and on every core. Prints
//! one JSON object.
//!
//! `cargo run --release -p switchboard-kb --example kb_bench -- [DOCUMENTS] [QUERIES] [OPTIONS.json]`

use std::sync::Arc;
use std::time::Instant;

use switchboard_kb::eval::percentile;
use switchboard_kb::{KbOptions, KnowledgeBase, SearchFilter};

#[path = "../benches/support/corpus.rs"]
mod corpus;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut arguments = std::env::args().skip(1);
    let documents: usize = arguments.next().map(|text| text.parse()).transpose()?.unwrap_or(10_000);
    let query_count: usize = arguments.next().map(|text| text.parse()).transpose()?.unwrap_or(2_000);
    let options: KbOptions = match arguments.next() {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?)?,
        None => KbOptions::default(),
    };
    let (articles, queries) = corpus::corpus(documents, query_count);

    let started = Instant::now();
    let in_ram = KnowledgeBase::in_ram(options.clone())?;
    in_ram.rebuild(articles.clone())?;
    let build_ram_seconds = started.elapsed().as_secs_f64();

    let directory = std::env::temp_dir().join(format!("kb-bench-{}", std::process::id()));
    let started = Instant::now();
    let (on_disk, _) = KnowledgeBase::open_or_create(&directory, options.clone())?;
    on_disk.rebuild(articles)?;
    let build_disk_seconds = started.elapsed().as_secs_f64();
    drop(on_disk);
    let started = Instant::now();
    let (reopened, needs_rebuild) = KnowledgeBase::open_or_create(&directory, options.clone())?;
    let reopen_seconds = started.elapsed().as_secs_f64();
    assert!(needs_rebuild.is_none());

    let knowledge_base = Arc::new(reopened);
    let filter = SearchFilter::default();
    // Warm up caches, then time each query on one thread.
    for query in queries.iter().take(200) {
        knowledge_base.search(query, 5, &filter)?;
    }
    let time_each = |queries: &[String]| -> Result<(Vec<f64>, f64), switchboard_kb::Error> {
        let mut latencies = Vec::with_capacity(queries.len());
        let started = Instant::now();
        for query in queries {
            let one = Instant::now();
            knowledge_base.search(query, 5, &filter)?;
            latencies.push(one.elapsed().as_secs_f64() * 1000.0);
        }
        let per_second = queries.len() as f64 / started.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        Ok((latencies, per_second))
    };
    // First pass: queries whose words and matches the index has not met
    // yet cost the first reading (see the crate's README). Second pass:
    // every word, phrase word and document already met.
    let (latencies, single_thread_qps) = time_each(&queries)?;
    let (warm_latencies, _) = time_each(&queries)?;

    let threads = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    let queries = Arc::new(queries);
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|worker| {
            let knowledge_base = Arc::clone(&knowledge_base);
            let queries = Arc::clone(&queries);
            std::thread::spawn(move || {
                for query in queries.iter().skip(worker).step_by(threads) {
                    knowledge_base
                        .search(query, 5, &SearchFilter::default())
                        .map(|_| ())
                        .map_err(|error| error.to_string())?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| "worker panicked")??;
    }
    let parallel_qps = queries.len() as f64 / started.elapsed().as_secs_f64();
    drop(knowledge_base);
    std::fs::remove_dir_all(&directory)?;

    let summary = serde_json::json!({
        "documents": documents,
        "queries": queries.len(),
        "build_ram_s": build_ram_seconds,
        "build_disk_s": build_disk_seconds,
        "reopen_s": reopen_seconds,
        "p50_ms": percentile(&latencies, 0.50),
        "p99_ms": percentile(&latencies, 0.99),
        "max_ms": latencies.last().copied().unwrap_or(0.0),
        "met_p50_ms": percentile(&warm_latencies, 0.50),
        "met_p99_ms": percentile(&warm_latencies, 0.99),
        "qps_1_thread": single_thread_qps,
        "threads": threads,
        "qps_all_threads": parallel_qps,
    });
    println!("{summary}");
    Ok(())
}
