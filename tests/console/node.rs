//! Provisions `target/console/node` for the console's end-to-end test: `npm ci` from the
//! committed tests/console/package-lock.json, once per machine, with the shared helpers of
//! tests/support/provision.rs (stamp file, exclusive file lock; `node` and `npm` must be on PATH:
//! a missing tool fails the tests, it never skips them).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::provision::Workspace;
pub use crate::provision::capture;

const WORKSPACE: Workspace = Workspace {
    name: "console",
    required_by: "the console tests (tests/console.rs)",
};

/// tests/console: the scripts and the npm manifests.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console")
}

/// `target/console` (follows CARGO_TARGET_DIR).
pub fn work_dir() -> PathBuf {
    WORKSPACE.dir()
}

static NODE: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// `target/console/node` with node_modules installed, and fresh copies of the scripts beside
/// it (ES modules resolve packages from the script's folder). Blocking.
pub fn provisioned() -> Result<PathBuf, String> {
    NODE.get_or_init(|| WORKSPACE.node_modules(&source_dir(), "console-node/1"))
        .clone()
}
