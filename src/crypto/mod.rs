//! Key material: the master key that seals private keys at rest, the orgs' signing keys, and
//! the verification of signatures made by others (client assertions, GitHub's alerts).

pub mod client_assertion;
pub mod github_signature;
pub mod jws;
pub mod jwt_provider;
pub mod master_key;
pub mod signing;

pub use master_key::{MasterKey, MasterKeyError};
