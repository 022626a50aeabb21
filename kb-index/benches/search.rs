//! Criterion benchmarks: search latency over 10,000 indexed articles, and
//! the time to build that index. `cargo bench -p switchboard-kb`.
//! For percentiles and queries per second see `examples/kb_bench.rs`.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use switchboard_kb::{KbOptions, KnowledgeBase, SearchFilter};

#[path = "support/corpus.rs"]
mod corpus;

const DOCUMENTS: usize = 10_000;

fn search(criterion: &mut Criterion) {
    let (documents, queries) = corpus::corpus(DOCUMENTS, 1_000);
    let knowledge_base = KnowledgeBase::in_ram(KbOptions::default()).expect("index");
    knowledge_base.rebuild(documents.clone()).expect("rebuild");
    let filter = SearchFilter::default();
    let mut next = 0;
    criterion.bench_function("search top 5 of 10k articles", |bencher| {
        bencher.iter(|| {
            next = (next + 1) % queries.len();
            knowledge_base.search(&queries[next], 5, &filter).expect("search")
        })
    });

    let mut group = criterion.benchmark_group("build");
    group.sample_size(10);
    group.bench_function("index 10k articles in RAM", |bencher| {
        bencher.iter_batched(
            || documents.clone(),
            |documents| {
                let knowledge_base = KnowledgeBase::in_ram(KbOptions::default()).expect("index");
                knowledge_base.rebuild(documents).expect("rebuild")
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
