//! Criterion micro-benchmarks of the pure functions on the request hot path.
//!
//!   cargo bench --bench hot_paths               # all
//!   cargo bench --bench hot_paths -- secret     # one group
//!
//! Figures are in docs/performance.md; nothing here is a test.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey::crypto::jws::Signer;
use latchkey::crypto::signing::{self, SigningAlg};
use latchkey::domain::ip_rules::IpRules;
use latchkey::domain::oauth::{Params, client_credentials};
use latchkey::domain::scope::{Action, ResourceFilter, Scope, parse_scope_list};
use latchkey::domain::secret::Secret;
use latchkey::domain::token::AccessClaims;
use latchkey::service::authority::narrow_scope;

fn secret(c: &mut Criterion) {
    let s = Secret::generate().expose().to_owned();
    c.bench_function("secret/parse+digest", |b| {
        b.iter(|| Secret::parse(black_box(&s)).map(|p| p.digest()))
    });
    let typo = format!("{}x", &s[..s.len() - 1]);
    c.bench_function("secret/parse (bad checksum)", |b| {
        b.iter(|| Secret::parse(black_box(&typo)).is_err())
    });
}

fn scopes(c: &mut Criterion) {
    let filter = ResourceFilter::parse("projects/*/files/**").unwrap_or_else(|e| panic!("{e}"));
    let narrow = ResourceFilter::parse("projects/42/files/7/**").unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("filter/match", |b| {
        b.iter(|| filter.matches(black_box("projects/42/files/7/versions/3")))
    });
    c.bench_function("filter/cover", |b| {
        b.iter(|| filter.covers(black_box(&narrow)))
    });
    let held = parse_scope_list("read:projects/** write:projects/42/** admin:keys")
        .unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("scope/allows (3 held)", |b| {
        b.iter(|| {
            held.iter()
                .any(|s: &Scope| s.allows(Action::Write, black_box("projects/42/files/1")))
        })
    });
    c.bench_function("scope/narrow (token request)", |b| {
        b.iter(|| {
            narrow_scope(
                &held,
                black_box(Some("read:projects/7 write:projects/42/a")),
            )
        })
    });
}

fn ip_rules(c: &mut Criterion) {
    let entries: Vec<String> = (0..10)
        .map(|i| format!("10.{i}.0.0/16"))
        .chain(["2001:db8::/32".to_owned()])
        .collect();
    let (rules, _) = IpRules::parse("allowed_cidrs", &entries).unwrap_or_else(|e| panic!("{e:?}"));
    let inside: IpAddr = "10.9.200.1".parse().unwrap_or_else(|e| panic!("{e}"));
    let outside: IpAddr = "192.0.2.1".parse().unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("ip/allows (11 rules, last matches)", |b| {
        b.iter(|| rules.allows(black_box(inside)))
    });
    c.bench_function("ip/allows (11 rules, none match)", |b| {
        b.iter(|| rules.allows(black_box(outside)))
    });
}

fn token_request(c: &mut Criterion) {
    let body = b"grant_type=client_credentials&scope=read%3Aprojects%2F42";
    let basic = "Basic a2V5XzAxSkFCQ0RFRkdISktNTlBRUlNUVldYWVo6bGtfMTIzNDU2Nzg5MEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaYWJjZGVmZ2hpMDAwMDAw";
    c.bench_function("oauth/form+basic parse", |b| {
        b.iter(|| {
            let params = Params::parse(black_box(body)).unwrap_or_default();
            client_credentials(Some(black_box(basic)), &params).is_ok()
        })
    });
}

fn claims(c: &mut Criterion) {
    let key = signing::generate(SigningAlg::EdDsa).unwrap_or_else(|e| panic!("{e}"));
    let signer = Signer::from_pkcs8(SigningAlg::EdDsa, &key.kid, &key.private_pkcs8)
        .unwrap_or_else(|e| panic!("{e}"));
    // As the token endpoint signs them: borrowed from the settings and the key.
    let claims = AccessClaims::<&str> {
        iss: "https://auth.example.com",
        sub: "key_01JABCDEFGHJKMNPQRSTVWXYZ",
        client_id: "key_01JABCDEFGHJKMNPQRSTVWXYZ",
        org_id: "org_01JABCDEFGHJKMNPQRSTVWXYZ",
        aud: latchkey::domain::audience::Audience::One("https://auth.example.com"),
        iat: 1_800_000_000,
        exp: 1_800_000_600,
        jti: "AbCdEfGhIjKlMnOpQrStUv",
        scope: "read:projects/42",
    };
    c.bench_function("token/claims encode + EdDSA sign", |b| {
        b.iter(|| signer.sign(black_box(&claims)))
    });
    c.bench_function("token/claims encode (JSON only)", |b| {
        b.iter(|| serde_json::to_vec(black_box(&claims)))
    });
}

criterion_group!(benches, secret, scopes, ip_rules, token_request, claims);
criterion_main!(benches);
