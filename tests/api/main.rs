//! One integration binary: every test starts its own server on a fresh database and a free port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod helpers;
mod attacks;
mod audit;
mod cache;
#[path = "../support/issuer.rs"]
mod fake_issuer;
mod federation;
mod feed;
mod issuer;
mod keys;
mod layers;
mod lifecycle;
mod limits;
mod metadata;
mod next_keys;
mod oauth;
mod openapi;
mod ops;
#[path = "../support/postgres.rs"]
mod postgres;
mod private_key_jwt;
#[path = "../support/provision.rs"]
mod provision;
#[path = "../support/receiver.rs"]
mod receiver;
mod resource;
mod review_federation;
mod robustness;
mod secret_prefix;
mod sessions;
mod signing_key_limit;
mod signing_keys;
mod throttle;
mod usage;
mod webhooks;
