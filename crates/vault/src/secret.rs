//! Secret holders: fixed-size key bytes and the keyd API token. Both are zeroized on drop and
//! print as `**redacted**`.

use crate::VaultError;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write as _;
use std::path::Path;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Length of every symmetric key in this crate (data keys, index keys, keyd key versions,
/// the keyd master key).
pub const KEY_LEN: usize = 32;

/// 32 secret bytes, wiped when dropped. The building block of every key type.
pub(crate) struct Secret32([u8; KEY_LEN]);

impl Secret32 {
    pub(crate) fn random() -> Self {
        let mut s = Secret32([0u8; KEY_LEN]);
        OsRng.fill_bytes(&mut s.0);
        s
    }

    /// `None` unless `bytes` is exactly [`KEY_LEN`] long.
    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != KEY_LEN {
            return None;
        }
        let mut s = Secret32([0u8; KEY_LEN]);
        s.0.copy_from_slice(bytes);
        Some(s)
    }

    /// Decodes standard base64 (surrounding whitespace ignored) into exactly 32 bytes.
    pub(crate) fn from_base64(text: &str) -> Option<Self> {
        let decoded = Zeroizing::new(STANDARD.decode(text.trim().as_bytes()).ok()?);
        Self::from_slice(&decoded)
    }

    pub(crate) fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0))
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl Clone for Secret32 {
    fn clone(&self) -> Self {
        Secret32(self.0)
    }
}

impl Drop for Secret32 {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for Secret32 {}

impl fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret32(**redacted**)")
    }
}

/// The bearer token of the keyd API (`X-Vault-Token`). Redacted in `Debug`, zeroized on
/// drop, compared in constant time.
pub struct SecretToken(Zeroizing<String>);

impl SecretToken {
    /// Wraps an existing token. It must be 16..=512 visible ASCII characters (it travels in
    /// an HTTP header).
    pub fn new(token: impl Into<String>) -> Result<Self, VaultError> {
        let token = Zeroizing::new(token.into());
        let ok_len = (16..=512).contains(&token.len());
        let ok_chars = token.bytes().all(|b| b.is_ascii_graphic());
        if !ok_len || !ok_chars {
            return Err(VaultError::Invalid(
                "a token is 16 to 512 visible ASCII characters".into(),
            ));
        }
        Ok(SecretToken(token))
    }

    /// A fresh random token: 32 bytes from the OS RNG, URL-safe base64 (43 characters).
    pub fn generate() -> Self {
        let raw = Secret32::random();
        SecretToken(Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.bytes())))
    }

    /// Reads the token stored in `path`, or creates a random one there (file mode 0600) if
    /// the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, VaultError> {
        let text = load_or_create_secret_file(path, "token", || SecretToken::generate().0)?;
        SecretToken::new(text.trim())
    }

    /// The token itself, for the one place that must send it (a request header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison. Both sides are hashed first so that not even the length of
    /// the real token leaks through timing.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let ours = Sha256::digest(self.0.as_bytes());
        let theirs = Sha256::digest(candidate);
        ours.ct_eq(&theirs).into()
    }
}

impl Clone for SecretToken {
    fn clone(&self) -> Self {
        SecretToken(self.0.clone())
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(**redacted**)")
    }
}

/// Reads a small secret text file, or creates it with `make()` as content and mode 0600
/// (owner read/write only) when absent. Warns when an existing file is readable by group or
/// others. Errors name the path, never the content.
pub(crate) fn load_or_create_secret_file(
    path: &Path,
    what: &str,
    make: impl FnOnce() -> Zeroizing<String>,
) -> Result<Zeroizing<String>, VaultError> {
    let io_err = |action: &str, e: std::io::Error| {
        VaultError::Internal(format!(
            "cannot {action} {what} file {}: {e}",
            path.display()
        ))
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_shared(path, what);
            return Ok(Zeroizing::new(text));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("read", e)),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| io_err("create the directory of", e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            let content = make();
            file.write_all(content.as_bytes())
                .and_then(|()| file.write_all(b"\n"))
                .and_then(|()| file.sync_all())
                .map_err(|e| io_err("write", e))?;
            Ok(content)
        }
        // Another process created it between our read and our create: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(|e| io_err("read", e)),
        Err(e) => Err(io_err("create", e)),
    }
}

#[cfg(unix)]
fn warn_if_shared(path: &Path, what: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "the {what} file is readable by group or others; chmod 600 it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path, _what: &str) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_is_redacted_and_comparison_works() {
        let t = SecretToken::generate();
        assert_eq!(format!("{t:?}"), "SecretToken(**redacted**)");
        assert!(!format!("{t:?}").contains(t.expose()));
        assert!(t.matches(t.expose().as_bytes()));
        assert!(!t.matches(b"nope"));
        assert!(!t.matches(b""));
        assert!(SecretToken::new("short").is_err());
        assert!(SecretToken::new("has a space in the middle").is_err());
        assert!(SecretToken::new("0123456789abcdef").is_ok());
    }

    #[test]
    fn token_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/token");
        let a = SecretToken::load_or_create(&path).unwrap();
        let b = SecretToken::load_or_create(&path).unwrap();
        assert_eq!(a.expose(), b.expose());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
