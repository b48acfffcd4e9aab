//! The master key seals signing private keys before they reach the database, so a copy of the
//! database alone (a backup, a replica) does not let anyone mint tokens.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};

const NONCE_LEN: usize = 24;
pub const MASTER_KEY_FILE: &str = "master.key";

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("LATCHKEY_MASTER_KEY must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)")]
    BadEncoding,
    #[error("cannot read or create the master key at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} does not hold a 32-byte base64 master key")]
    BadFile { path: PathBuf },
    #[error("a sealed value could not be opened: wrong master key or corrupt data")]
    Open,
}

/// 32 bytes for XChaCha20-Poly1305. `Debug` never prints them.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn from_base64(text: &str) -> Result<Self, MasterKeyError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| MasterKeyError::BadEncoding)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| MasterKeyError::BadEncoding)?;
        Ok(Self(arr))
    }

    pub fn generate() -> Self {
        let mut arr = [0u8; 32];
        rand::fill(&mut arr);
        Self(arr)
    }

    /// `LATCHKEY_MASTER_KEY` when given (several nodes share one), else `<keys_dir>/master.key`,
    /// created with mode 0600 on first use.
    pub fn resolve(from_env: Option<&str>, keys_dir: &Path) -> Result<Self, MasterKeyError> {
        match from_env {
            Some(text) if !text.trim().is_empty() => Self::from_base64(text),
            _ => Self::load_or_create(keys_dir),
        }
    }

    fn load_or_create(keys_dir: &Path) -> Result<Self, MasterKeyError> {
        let path = keys_dir.join(MASTER_KEY_FILE);
        let io = |source| MasterKeyError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                Self::from_base64(&text).map_err(|_| MasterKeyError::BadFile { path: path.clone() })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(keys_dir).map_err(io)?;
                let key = Self::generate();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(&path) {
                    Ok(mut file) => {
                        writeln!(file, "{}", STANDARD.encode(key.0)).map_err(io)?;
                        file.sync_all().map_err(io)?;
                        Ok(key)
                    }
                    // Another process created it between our read and our create: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let text = std::fs::read_to_string(&path).map_err(io)?;
                        Self::from_base64(&text)
                            .map_err(|_| MasterKeyError::BadFile { path: path.clone() })
                    }
                    Err(e) => Err(io(e)),
                }
            }
            Err(e) => Err(io(e)),
        }
    }

    /// nonce || ciphertext+tag. `aad` binds the value to its row (the kid), so a sealed key
    /// copied onto another row does not open.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce length cannot fail.
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap_or_default();
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        if sealed.len() < NONCE_LEN {
            return Err(MasterKeyError::Open);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| MasterKeyError::Open)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_aad() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"private", b"kid-1");
        assert_ne!(&sealed[NONCE_LEN..], b"private");
        assert_eq!(key.open(&sealed, b"kid-1").unwrap(), b"private");
        assert!(key.open(&sealed, b"kid-2").is_err());
        assert!(MasterKey::generate().open(&sealed, b"kid-1").is_err());
        assert!(key.open(&sealed[..10], b"kid-1").is_err());
    }

    #[test]
    fn the_key_file_is_created_once_with_mode_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = MasterKey::resolve(None, dir.path()).unwrap();
        let b = MasterKey::resolve(None, dir.path()).unwrap();
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn the_environment_overrides_the_file_and_is_validated() {
        let dir = tempfile::tempdir().unwrap();
        let k = MasterKey::generate();
        let from_env = MasterKey::resolve(Some(&STANDARD.encode(k.0)), dir.path()).unwrap();
        assert_eq!(from_env.0, k.0);
        assert!(!dir.path().join(MASTER_KEY_FILE).exists());
        assert!(MasterKey::resolve(Some("c2hvcnQ="), dir.path()).is_err());
        assert_eq!(format!("{k:?}"), "MasterKey(..)");
    }
}
