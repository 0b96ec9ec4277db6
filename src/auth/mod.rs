//! API keys and keyed hashes. Keys are random and long, so a plain SHA-256 is enough to store them (a slow
//! password hash would only slow every POST); device ids are low-entropy hardware ids, so they are hashed
//! with a server secret (HMAC) and cannot be recovered by hashing candidate ids.

pub mod staff;

use hmac::{Hmac, Mac};
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

/// SHA-256 of an API key, hex encoded: what `api_keys.key_hash` holds.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new API key: a recognisable prefix and 32 random alphanumerics (~190 bits).
pub fn generate_api_key() -> String {
    format!("c311_{}", Alphanumeric.sample_string(&mut rand::rng(), 32))
}

/// A random alphanumeric string (tokens, ids).
pub fn random_id(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

/// HMAC-SHA-256 of a device id under the server secret, hex encoded.
pub fn hash_device_id(secret: &[u8], device_id: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm exists only because the API returns a Result.
        Err(_) => return hex::encode(Sha256::digest([secret, device_id.as_bytes()].concat())),
    };
    mac.update(device_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Reads the server secret from `<data_dir>/secret.key`, creating it (mode 0600) on first start.
pub fn load_or_create_secret(data_dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    use std::io::Write;
    let path = data_dir.join("secret.key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= 32 {
            return Ok(existing.as_bytes().to_vec());
        }
        anyhow::bail!(
            "{} is shorter than 32 characters; delete it to generate a new one",
            path.display()
        );
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let secret = random_id(64);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_hash_depends_on_the_secret() {
        let a = hash_device_id(b"secret-one-secret-one-secret-one", "356938035643809");
        let b = hash_device_id(b"secret-two-secret-two-secret-two", "356938035643809");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(!a.contains("356938035643809"));
    }

    #[test]
    fn keys_are_unique_and_hash_stably() {
        let (k1, k2) = (generate_api_key(), generate_api_key());
        assert_ne!(k1, k2);
        assert_eq!(hash_api_key(&k1), hash_api_key(&k1));
        assert_ne!(hash_api_key(&k1), hash_api_key(&k2));
    }

    #[test]
    fn secret_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_secret(dir.path()).unwrap();
        let b = load_or_create_secret(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
    }
}
