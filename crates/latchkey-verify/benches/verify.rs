//! Verification of an EdDSA access token with a warm key cache: the cost a resource server
//! pays per request. `cargo bench -p latchkey-verify --bench verify`.

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use latchkey_verify::scope::Action;
use latchkey_verify::{Verifier, doc_example};

fn verify(c: &mut Criterion) {
    let Ok(verifier) = Verifier::builder(doc_example::ISSUER)
        .static_jwks(doc_example::JWKS)
        .build()
    else {
        panic!("the doc example's key set builds");
    };
    // A warm cache never awaits: the future is ready at its first poll.
    c.bench_function("verify EdDSA, warm cache", |b| {
        b.iter(|| {
            let claims = verifier.verify(doc_example::TOKEN).now_or_never();
            assert!(matches!(claims, Some(Ok(_))));
        })
    });
    c.bench_function("verify EdDSA + allows, warm cache", |b| {
        b.iter(|| {
            let claims = verifier.verify(doc_example::TOKEN).now_or_never();
            assert!(matches!(claims, Some(Ok(c)) if c.allows(Action::Read, "projects/42")));
        })
    });
}

criterion_group!(benches, verify);
criterion_main!(benches);
