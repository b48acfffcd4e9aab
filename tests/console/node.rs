//! Provisions `target/console/node` for the console's end-to-end test: `npm ci` from the
//! committed tests/console/package-lock.json, once per machine. The same pattern as the interop
//! tests' (tests/interop.rs): a stamp file holding a hash of the manifest, the lockfile and the
//! node version decides when to reinstall, and an exclusive file lock keeps parallel test
//! processes (and the tests of this binary, through a `OnceLock`) from racing. `node` and `npm`
//! must be on PATH: a missing tool fails the tests, it never skips them.

use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const STAMP: &str = ".console-stamp";

/// tests/console: the scripts and the npm manifests.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console")
}

/// `target/console` (follows CARGO_TARGET_DIR: CARGO_TARGET_TMPDIR is `<target>/tmp`).
pub fn work_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .join("console")
}

pub struct Captured {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Captured {
    pub fn report(&self, what: &str) -> String {
        format!(
            "{what}: {}{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            if self.timed_out { " (timed out)" } else { "" },
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs `cmd` with stdin closed and both outputs captured; kills it after `timeout`.
pub fn capture(mut cmd: Command, timeout: Duration) -> std::io::Result<Captured> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Captured {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        timed_out,
    })
}

fn tool_version(tool: &str) -> Result<String, String> {
    let mut cmd = Command::new(tool);
    cmd.arg("--version");
    let run = capture(cmd, Duration::from_secs(60)).map_err(|e| {
        let why = if e.kind() == ErrorKind::NotFound {
            "it is not on PATH".to_owned()
        } else {
            format!("it cannot be started ({e})")
        };
        format!(
            "`{tool}` is required by the console tests (tests/console.rs), but {why}. \
             Install Node.js 20 or newer with npm (and network access to the npm registry)."
        )
    })?;
    if !run.status.success() {
        return Err(run.report(&format!("`{tool} --version` failed")));
    }
    Ok(run.stdout.trim().to_owned())
}

fn digest(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

static NODE: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// `target/console/node` with node_modules installed, and fresh copies of the scripts beside
/// it (ES modules resolve packages from the script's folder). Blocking.
pub fn provisioned() -> Result<PathBuf, String> {
    NODE.get_or_init(provision).clone()
}

fn provision() -> Result<PathBuf, String> {
    let node = tool_version("node")?;
    tool_version("npm")?;
    let src = source_dir();
    let manifest = read(&src.join("package.json"))?;
    let lockfile = read(&src.join("package-lock.json"))?;
    let stamp = digest(&[b"console-node/1", node.as_bytes(), &manifest, &lockfile]);
    let dir = work_dir().join("node");
    let io = |what: &str, e: std::io::Error| format!("{what} in {}: {e}", dir.display());
    fs::create_dir_all(&dir).map_err(|e| io("cannot create the folder", e))?;
    let lock_path = work_dir().join("node.lock");
    let lock = File::create(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;

    let fresh = dir.join("node_modules").is_dir()
        && fs::read_to_string(dir.join(STAMP)).is_ok_and(|s| s == stamp);
    if !fresh {
        let _ = fs::remove_file(dir.join(STAMP));
        if dir.join("node_modules").exists() {
            fs::remove_dir_all(dir.join("node_modules"))
                .map_err(|e| io("cannot remove node_modules", e))?;
        }
        fs::write(dir.join("package.json"), &manifest)
            .map_err(|e| io("cannot write package.json", e))?;
        fs::write(dir.join("package-lock.json"), &lockfile)
            .map_err(|e| io("cannot write package-lock.json", e))?;
        let started = Instant::now();
        let mut npm = Command::new("npm");
        // --ignore-scripts: playwright-core has no install script, and nothing may download
        // a browser; the tests use the system's Chromium.
        npm.current_dir(&dir)
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"]);
        let run = capture(npm, Duration::from_secs(900))
            .map_err(|e| format!("console provisioning: cannot start npm: {e}"))?;
        if !run.status.success() || run.timed_out {
            return Err(run.report("console provisioning: npm ci (target/console/node) failed"));
        }
        eprintln!(
            "console: npm ci took {:.1}s",
            started.elapsed().as_secs_f64()
        );
        fs::write(dir.join(STAMP), &stamp).map_err(|e| io("cannot write the stamp", e))?;
    }
    // The scripts change more often than the dependencies: copy them on every run, atomically
    // (another test process may be running the previous copy).
    for entry in fs::read_dir(&src).map_err(|e| format!("cannot list {}: {e}", src.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|x| x == "mjs") {
            let name = path.file_name().expect("a file name");
            let tmp = dir.join(format!(
                ".{}.{}.tmp",
                name.to_string_lossy(),
                std::process::id()
            ));
            fs::copy(&path, &tmp).map_err(|e| io("cannot copy a script", e))?;
            fs::rename(&tmp, dir.join(name)).map_err(|e| io("cannot place a script", e))?;
        }
    }
    Ok(dir)
}
