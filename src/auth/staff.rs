//! Staff credentials: argon2 password hashes, short-lived access tokens (JWT, HS256 only, with `exp`, `iss`,
//! `aud`, `sub` and the session id required) and opaque refresh tokens stored as SHA-256. Every request
//! re-checks the session and the account, so signing out or disabling an account takes effect at once.

use argon2::password_hash::PasswordHasher;
use argon2::{Argon2, PasswordVerifier};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const ISSUER: &str = "civic311";
pub const AUDIENCE: &str = "civic311-staff";
/// Access tokens are short-lived: a stolen one is useful for minutes, and renewal re-checks the account.
pub const ACCESS_SECONDS: i64 = 600;
/// Refresh tokens (one per session, rotated at each use).
pub const REFRESH_DAYS: i64 = 14;
/// Clock skew tolerated when checking `exp`.
const LEEWAY_SECONDS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The staff user id.
    pub sub: String,
    /// The session id: the session must still exist for the token to count.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

/// Signing keys derived from the server secret, so that a server restart keeps sessions valid and a new
/// secret invalidates every token.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl TokenKeys {
    pub fn from_secret(secret: &[u8]) -> Self {
        let key = Sha256::digest([b"civic311 staff tokens v1:".as_slice(), secret].concat());
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
        }
    }

    pub fn issue(&self, user_id: &str, session_id: &str, now: i64) -> Result<String, String> {
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user_id.into(),
            sid: session_id.into(),
            iat: now,
            exp: now + ACCESS_SECONDS,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// Checks signature, algorithm, expiry, issuer and audience; every one of `exp`, `iss`, `aud`, `sub` must be
    /// present (jsonwebtoken checks `iss`/`aud` only when present unless told they are required).
    pub fn verify(&self, token: &str) -> Result<Claims, String> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[ISSUER]);
        v.set_audience(&[AUDIENCE]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = LEEWAY_SECONDS;
        decode::<Claims>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| e.to_string())
    }
}

pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A password a city would accept for staff: long enough, not trivially repetitive.
pub fn check_password_strength(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < 12 {
        return Err("a staff password needs at least 12 characters".into());
    }
    if n > 200 {
        return Err("a staff password may have at most 200 characters".into());
    }
    let distinct: std::collections::HashSet<char> = password.chars().collect();
    if distinct.len() < 5 {
        return Err("a staff password needs at least 5 different characters".into());
    }
    Ok(())
}

pub fn hash_refresh(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_sign_and_verify_with_every_claim_checked() {
        // Also proves the crypto backend is compiled in: without it jsonwebtoken panics here.
        let keys = TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let now = chrono::Utc::now().timestamp();
        let t = keys.issue("u1", "s1", now).unwrap();
        assert_eq!(keys.verify(&t).unwrap().sub, "u1");
        let other = TokenKeys::from_secret(b"another secret, another key 1234");
        assert!(other.verify(&t).is_err(), "signed with another key");
        let expired = keys.issue("u1", "s1", now - ACCESS_SECONDS - 60).unwrap();
        assert!(keys.verify(&expired).is_err());
        let mut tampered = t.clone();
        tampered.pop();
        assert!(keys.verify(&tampered).is_err());
    }

    #[test]
    fn other_algorithms_and_missing_claims_are_refused() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let keys = TokenKeys::from_secret(secret);
        let now = chrono::Utc::now().timestamp();
        let key = Sha256::digest([b"civic311 staff tokens v1:".as_slice(), secret].concat());
        let enc = EncodingKey::from_secret(&key);
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: "u1".into(),
            sid: "s1".into(),
            iat: now,
            exp: now + 60,
        };
        // The same key and claims under HS384: only HS256 is accepted.
        let hs384 = encode(&Header::new(Algorithm::HS384), &claims, &enc).unwrap();
        assert!(keys.verify(&hs384).is_err());
        // alg "none": an unsigned token.
        let b64 = |v: &serde_json::Value| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
            b64(&serde_json::to_value(&claims).unwrap())
        );
        assert!(keys.verify(&none).is_err());
        // Each required claim missing in turn.
        for missing in ["exp", "iss", "aud", "sub", "sid"] {
            let mut v = serde_json::to_value(&claims).unwrap();
            v.as_object_mut().unwrap().remove(missing);
            let t = encode(&Header::new(Algorithm::HS256), &v, &enc).unwrap();
            assert!(
                keys.verify(&t).is_err(),
                "a token without {missing} must be refused"
            );
        }
        // Within the leeway an expired token still counts; past it, not.
        let mut c = claims.clone();
        c.exp = now - 2;
        assert!(keys
            .verify(&encode(&Header::new(Algorithm::HS256), &c, &enc).unwrap())
            .is_ok());
        c.exp = now - 30;
        assert!(keys
            .verify(&encode(&Header::new(Algorithm::HS256), &c, &enc).unwrap())
            .is_err());
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(check_password_strength("aaaaaaaaaaaa").is_err());
        assert!(check_password_strength("short").is_err());
        assert!(check_password_strength("banjir-jakarta-2026").is_ok());
    }
}
