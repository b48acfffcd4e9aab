//! Latchkey's pure rules, one copy shared by the server (`latchkey`) and the resource-server
//! SDK: no I/O, no clock of its own (callers pass the time), no HTTP or database types.

pub mod jwks_cache;
