//! Password hashes: argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), stored as PHC
//! strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), so that the parameters travel with
//! each hash and can be raised later without invalidating the old ones.

use crate::input::Password;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use std::sync::OnceLock;

fn argon2id() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// The PHC string of `password` with a fresh random 16-byte salt.
pub fn hash_password(password: &Password) -> Result<String, HashError> {
    hash_raw(password.expose())
}

fn hash_raw(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
    argon2id()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the PHC string `stored`. A malformed hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(hash) => argon2id()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(error) => {
            tracing::error!(%error, "a stored password hash is not a valid PHC string");
            false
        }
    }
}

/// Spends the time of one verification when there is no account to verify against, so that the
/// response time does not tell whether an e-mail is registered.
pub fn verify_against_nothing(password: &str) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    if let Some(dummy) = DUMMY.get_or_init(|| hash_raw("no account has this password").ok()) {
        let _ = verify_password(password, dummy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use servicehub_domain::validation::ValidationErrors;

    fn password(raw: &str) -> Password {
        Password::parse(raw, "password", None, &mut ValidationErrors::default()).unwrap()
    }

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let hash = hash_password(&password("correct horse battery")).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery!", &hash));
        assert!(!verify_password("", &hash));
    }

    #[test]
    fn the_same_password_gets_a_new_salt_each_time() {
        let p = password("correct horse battery");
        assert_ne!(hash_password(&p).unwrap(), hash_password(&p).unwrap());
    }

    #[test]
    fn a_malformed_hash_never_matches() {
        assert!(!verify_password("anything", "not a phc string"));
        assert!(!verify_password("anything", ""));
    }
}
