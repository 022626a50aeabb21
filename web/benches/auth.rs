//! What authentication costs a request: verifying an API key (the cached
//! path every busy integration takes, and the first, uncached one that
//! reads the store), and argon2id hashing (what a sign-in costs).
//!
//! `cargo bench -p switchboard-web --bench auth`

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard_core::config::AuthConfig;
use switchboard_core::{CompanyId, KeyScope};
use switchboard_store::Store;
use switchboard_web::Auth;
use switchboard_web::auth::{Passwords, issue_api_key};

fn bench(criterion: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let directory = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", directory.path().join("bench.db").display());
    let (auth, secret) = runtime.block_on(async {
        let store = Store::connect(&url, 4).await.expect("store");
        store.migrate().await.expect("migrate");
        let company = CompanyId::parse("acme").expect("valid");
        store.create_company(&company, "Acme").await.expect("company");
        let (_, secret) = issue_api_key(&store, &company, "bench", &[KeyScope::TicketsWrite], None).await.expect("key");
        (Auth::new(store, &AuthConfig::default()), secret)
    });

    let mut group = criterion.benchmark_group("auth");
    group.bench_function("api_key_cached", |bencher| {
        bencher.to_async(&runtime).iter(|| async { auth.authenticate(&secret).await.expect("ok").expect("caller") });
    });
    group.bench_function("api_key_uncached", |bencher| {
        bencher.to_async(&runtime).iter(|| async {
            auth.forget_token(&secret);
            auth.authenticate(&secret).await.expect("ok").expect("caller")
        });
    });
    let passwords = Passwords::new(1);
    group.sample_size(20);
    group.bench_function("argon2id_hash", |bencher| {
        bencher
            .to_async(&runtime)
            .iter(|| async { passwords.hash("correct horse battery staple").await.expect("hash") });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
