//! Requests this server makes to URLs that users configured, and what it keeps of the answers:
//! SSRF-safe fetching (`client`, with the address rules in `address`) and the caches of public
//! keys fetched that way (`key_sets`).

pub mod address;
pub mod client;
pub mod key_sets;

pub use client::{FetchError, Outbound, Posted, Reach, check_resolved, check_url};
