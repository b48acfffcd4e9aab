//! The configuration of the model-based tests (`tests/keycache_model.rs`,
//! `tests/limits_model.rs`): how many cases, from the environment, and shrinking bounds.

use proptest::prelude::ProptestConfig;

/// The number of cases `var` asks for, else `default`.
pub fn cases(var: &str, default: u32) -> u32 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Each case runs against a real database: shrink, but not forever.
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}
