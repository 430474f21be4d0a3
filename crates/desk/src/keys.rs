//! The desk's own keys, kept in files under `key_dir` (never in the database, so that a copy of
//! the database alone can neither forge audit checkpoints nor recompute follow links).

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::RngCore;

/// The audit signing key's file name.
pub const AUDIT_KEY_FILE: &str = "audit-ed25519.key";
/// The policy signing key's file name: separate from the audit key, so that either can be
/// rotated, or handed to a separate signer, without the other.
pub const POLICY_KEY_FILE: &str = "policy-ed25519.key";
/// The policy signing public key (64 hex digits), written for edges' `trusted_keys`.
pub const POLICY_PUBLIC_FILE: &str = "policy-ed25519.pub";
/// The follow-link key's file name.
pub const FOLLOW_KEY_FILE: &str = "follow-hmac.key";

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or creating a key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key file does not hold 64 hex digits.
    #[error("{0}: must hold 64 hex digits (a 32-byte key)")]
    Malformed(PathBuf),
}

/// The keys.
#[derive(Clone)]
pub struct Keys {
    /// Signs audit checkpoints.
    pub audit: SigningKey,
    /// Derives follow-link tokens from report ids.
    pub follow: [u8; 32],
    /// Signs policy versions for the edges.
    pub policy: SigningKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field(
                "audit_public",
                &hex::encode(self.audit.verifying_key().as_bytes()),
            )
            .field(
                "policy_public",
                &hex::encode(self.policy.verifying_key().as_bytes()),
            )
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// Loads the keys from `dir`, creating the directory and any missing key.
    pub fn load_or_create(dir: &Path) -> Result<Keys, KeyError> {
        std::fs::create_dir_all(dir).map_err(|source| KeyError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let audit = SigningKey::from_bytes(&load_or_create_key(&dir.join(AUDIT_KEY_FILE))?);
        let follow = load_or_create_key(&dir.join(FOLLOW_KEY_FILE))?;
        let policy = SigningKey::from_bytes(&load_or_create_key(&dir.join(POLICY_KEY_FILE))?);
        let public = dir.join(POLICY_PUBLIC_FILE);
        let hex_public = hex::encode(policy.verifying_key().as_bytes());
        if std::fs::read_to_string(&public)
            .map(|t| t.trim().to_string())
            .ok()
            != Some(hex_public.clone())
        {
            std::fs::write(&public, format!("{hex_public}\n")).map_err(|source| KeyError::Io {
                path: public,
                source,
            })?;
        }
        Ok(Keys {
            audit,
            follow,
            policy,
        })
    }

    /// Reads only the audit public key (for verification): the key file must exist.
    pub fn audit_public(dir: &Path) -> Result<VerifyingKey, KeyError> {
        let path = dir.join(AUDIT_KEY_FILE);
        let bytes = read_key(&path)?;
        Ok(SigningKey::from_bytes(&bytes).verifying_key())
    }
}

fn read_key(path: &Path) -> Result<[u8; 32], KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    hex::decode(text.trim())
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or_else(|| KeyError::Malformed(path.to_owned()))
}

fn load_or_create_key(path: &Path) -> Result<[u8; 32], KeyError> {
    if path.exists() {
        return read_key(path);
    }
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = opts.open(path).map_err(io)?;
    writeln!(f, "{}", hex::encode(key)).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(key)
}
