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

/// A 20-character id for rows that are only ever appended (history events, deliveries, audit entries): the
/// creation time in milliseconds (8 base-62 digits, in ASCII order) then 12 random characters. Keyed by it,
/// new rows land at the end of the primary-key index instead of on a random page of it; on a large outbox
/// or history that random page is a read from disk and one more page written per report.
pub fn sortable_id() -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut time = [b'0'; 8];
    for slot in time.iter_mut().rev() {
        *slot = DIGITS[(ms % 62) as usize];
        ms /= 62;
    }
    let mut id = String::with_capacity(20);
    id.extend(time.iter().map(|&b| b as char));
    id.push_str(&random_id(12));
    id
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
    #[test]
    fn sortable_ids_sort_by_time_and_differ() {
        let a = super::sortable_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = super::sortable_id();
        assert_eq!((a.len(), b.len()), (20, 20));
        assert!(a < b, "{a} !< {b}");
        assert_ne!(super::sortable_id(), super::sortable_id());
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }

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
