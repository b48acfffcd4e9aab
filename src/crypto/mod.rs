//! Key material: the master key that seals private keys at rest, and the orgs' signing keys.

pub mod client_assertion;
pub mod jws;
pub mod jwt_provider;
pub mod master_key;
pub mod signing;

pub use master_key::{MasterKey, MasterKeyError};
