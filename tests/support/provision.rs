//! Tooling that test binaries install for themselves on first use and reuse afterwards: a Python
//! venv from a pinned requirements file, or `node_modules` from a committed npm lockfile, under
//! `<target>/<NAME>/` (tests/interop.rs, tests/console.rs, tests/schemathesis.rs).
//!
//! A stamp file holding a hash of the pinned manifests and of the interpreter's version decides
//! when to reinstall; an exclusive file lock keeps parallel test processes from racing (the tests
//! of one binary share the result through a `OnceLock` of their own). The interpreters (`python3`
//! with its venv module, `node`, `npm`) must be on PATH: a missing one fails the tests with a
//! message saying what to install, it never skips them.
//!
//! Included with `#[path = "support/provision.rs"] mod provision;`.
#![allow(dead_code)] // Each test binary uses part of it.

use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long one install command (`pip install`, `npm ci`) may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(900);

// ---------------------------------------------------------------------------------------------
// Running a command
// ---------------------------------------------------------------------------------------------

pub struct Captured {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Captured {
    /// `what`, the exit status and both outputs, for a failure message.
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
        std::thread::sleep(Duration::from_millis(10));
    };
    Ok(Captured {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        timed_out,
    })
}

// ---------------------------------------------------------------------------------------------
// Provisioning
// ---------------------------------------------------------------------------------------------

/// One test binary's tooling folder, `<target>/<name>`, and who needs it (for messages).
pub struct Workspace {
    /// The folder's name under the target directory; also the prefix of progress lines and of
    /// the stamp file's name (`.<name>-stamp`).
    pub name: &'static str,
    /// Who requires the tools, e.g. "the interop tests (tests/interop.rs)".
    pub required_by: &'static str,
}

impl Workspace {
    /// `<target>/<name>` (follows CARGO_TARGET_DIR: CARGO_TARGET_TMPDIR is `<target>/tmp`).
    pub fn dir(&self) -> PathBuf {
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("CARGO_TARGET_TMPDIR has a parent")
            .join(self.name)
    }

    /// `tool --version`, or an error saying who needs the tool, for what, and `install` (how to
    /// get it): the tests never skip.
    pub fn tool_version(
        &self,
        tool: &str,
        needed_for: &str,
        install: &str,
    ) -> Result<String, String> {
        let missing = |detail: String| {
            format!(
                "`{tool}` is required by {} for {needed_for}, but {detail}. {install}",
                self.required_by
            )
        };
        let mut cmd = Command::new(tool);
        cmd.arg("--version");
        let run = capture(cmd, Duration::from_secs(60)).map_err(|e| {
            missing(if e.kind() == ErrorKind::NotFound {
                "it is not on PATH".to_owned()
            } else {
                format!("it cannot be started ({e})")
            })
        })?;
        if !run.status.success() {
            return Err(missing(run.report(&format!("`{tool} --version` failed"))));
        }
        Ok(format!("{}{}", run.stdout.trim(), run.stderr.trim()))
    }

    /// A Python venv at `<dir>/venv` with `requirements` (a pinned pip requirements file)
    /// installed; returns its python. Recreated when the requirements, `tag` (bump it to force
    /// a reinstall) or python3's version change. Blocking.
    pub fn python_venv(&self, requirements: &Path, tag: &str) -> Result<PathBuf, String> {
        let version = self.tool_version(
            "python3",
            "its Python tools",
            "Install python3 with its venv module (Debian: python3 python3-venv), with network \
             access to PyPI, and rerun.",
        )?;
        let stamp = digest(&[tag.as_bytes(), version.as_bytes(), &read(requirements)?]);
        let venv = self.dir().join("venv");
        let python = venv.join("bin").join("python");
        let _guard = self.lock("venv")?;
        if python.exists() && self.stamp_matches(&venv, &stamp) {
            return Ok(python);
        }
        if venv.exists() {
            fs::remove_dir_all(&venv)
                .map_err(|e| format!("cannot remove the stale {}: {e}", venv.display()))?;
        }
        let mut create = Command::new("python3");
        create.args(["-m", "venv"]).arg(&venv);
        self.step(create, &format!("python3 -m venv {}", venv.display()))?;
        let mut install = Command::new(&python);
        install
            .args(["-m", "pip", "install", "--disable-pip-version-check"])
            .args(["--no-input", "--quiet", "-r"])
            .arg(requirements);
        self.step(
            install,
            &format!("pip install -r {}", requirements.display()),
        )?;
        self.write_stamp(&venv, &stamp)?;
        Ok(python)
    }

    /// `<dir>/node` with node_modules installed by `npm ci` from `src`'s package.json and
    /// committed package-lock.json, and fresh copies of `src`'s .mjs scripts beside it (ES
    /// modules resolve packages from the script's folder). Reinstalled when the manifests, `tag`
    /// or node's version change. Blocking.
    pub fn node_modules(&self, src: &Path, tag: &str) -> Result<PathBuf, String> {
        let install = "Install Node.js 20 or newer with npm (Debian: nodejs npm), with network \
                       access to the npm registry, and rerun.";
        let node = self.tool_version("node", "its Node.js scripts", install)?;
        self.tool_version("npm", "installing its Node.js packages", install)?;
        let manifest = read(&src.join("package.json"))?;
        let lockfile = read(&src.join("package-lock.json"))?;
        let stamp = digest(&[tag.as_bytes(), node.as_bytes(), &manifest, &lockfile]);
        let dir = self.dir().join("node");
        let _guard = self.lock("node")?;
        let io = |what: &str, e: std::io::Error| format!("{what} in {}: {e}", dir.display());
        if !(dir.join("node_modules").is_dir() && self.stamp_matches(&dir, &stamp)) {
            let _ = fs::remove_file(self.stamp_path(&dir));
            if dir.join("node_modules").exists() {
                fs::remove_dir_all(dir.join("node_modules"))
                    .map_err(|e| io("cannot remove node_modules", e))?;
            }
            fs::create_dir_all(&dir).map_err(|e| io("cannot create the folder", e))?;
            fs::write(dir.join("package.json"), &manifest)
                .map_err(|e| io("cannot write package.json", e))?;
            fs::write(dir.join("package-lock.json"), &lockfile)
                .map_err(|e| io("cannot write package-lock.json", e))?;
            let mut npm = Command::new("npm");
            // --ignore-scripts: nothing may download at install time (a browser, a binary).
            npm.current_dir(&dir)
                .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"]);
            self.step(npm, &format!("npm ci ({})", dir.display()))?;
            self.write_stamp(&dir, &stamp)?;
        }
        // The scripts change more often than the dependencies: copy them on every run,
        // atomically (another test process may be running the previous copy).
        for entry in fs::read_dir(src).map_err(|e| format!("cannot list {}: {e}", src.display()))? {
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

    fn stamp_path(&self, dir: &Path) -> PathBuf {
        dir.join(format!(".{}-stamp", self.name))
    }

    fn stamp_matches(&self, dir: &Path, stamp: &str) -> bool {
        fs::read_to_string(self.stamp_path(dir)).is_ok_and(|s| s == stamp)
    }

    fn write_stamp(&self, dir: &Path, stamp: &str) -> Result<(), String> {
        fs::write(self.stamp_path(dir), stamp).map_err(|e| format!("cannot write the stamp: {e}"))
    }

    /// An exclusive lock on `<dir>/<what>.lock`, held until dropped (or the process dies).
    fn lock(&self, what: &str) -> Result<File, String> {
        let root = self.dir();
        fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let path = root.join(format!("{what}.lock"));
        let file =
            File::create(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        file.lock()
            .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
        Ok(file)
    }

    /// One install command; its output is shown only when it fails.
    fn step(&self, mut cmd: Command, what: &str) -> Result<(), String> {
        let started = Instant::now();
        cmd.env_remove("PYTHONPATH").env_remove("PYTHONHOME");
        let run = capture(cmd, INSTALL_TIMEOUT)
            .map_err(|e| format!("{} provisioning: cannot start {what}: {e}", self.name))?;
        if !run.status.success() || run.timed_out {
            return Err(run.report(&format!("{} provisioning: {what} failed", self.name)));
        }
        eprintln!(
            "{}: {what} took {:.1}s",
            self.name,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn digest(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
