//! Tokens. Access tokens are short-lived HS256 JWTs with the standard claims (`sub`, `exp`, `iat`,
//! `nbf`, `iss`, `aud`, `jti`) plus `role` and `regions`; the Lambda authorizer verifies them
//! without a database. Refresh tokens are opaque random strings; only their SHA-256 is stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use servicehub_events::values::Role;
use sha2::{Digest, Sha256};
use thiserror::Error;
use uuid::Uuid;

/// Shortest HS256 key accepted: RFC 7518 asks for a key at least as long as the hash (256 bits).
pub const MIN_KEY_BYTES: usize = 32;

/// Clock skew tolerated between the issuing and the verifying function.
pub const LEEWAY_SECONDS: i64 = 30;

/// Who a token speaks for: what the authorizer hands to the handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub role: Role,
    pub regions: Vec<String>,
}

/// The claims of an access token, as they are on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub role: String,
    #[serde(default)]
    pub regions: Vec<String>,
}

/// Issuer, audience and lifetimes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl Default for TokenSettings {
    fn default() -> TokenSettings {
        TokenSettings {
            issuer: "servicehub".into(),
            audience: "servicehub-api".into(),
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(30),
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the JWT signing key is {0} bytes; at least {MIN_KEY_BYTES} are required")]
    TooShort(usize),
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("signing the access token failed: {0}")]
pub struct SignError(String);

/// Why a token was refused. Only logged: every one of them is simply "not authorized" outside.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not HS256")]
    WrongAlgorithm,
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token's claims are invalid: {0}")]
    InvalidClaims(String),
    #[error("the token names a signing key that is neither current nor previous")]
    UnknownKey,
}

/// Issues and verifies access tokens with one HS256 key, named in the tokens' `kid` header when it
/// has an id (the Secrets Manager version it came from), so verifiers find it after a rotation.
pub struct JwtCodec {
    kid: Option<String>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    settings: TokenSettings,
}

impl std::fmt::Debug for JwtCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtCodec")
            .field("kid", &self.kid)
            .field("key", &"<redacted>")
            .field("settings", &self.settings)
            .finish()
    }
}

/// An access token and when it stops working.
#[derive(Debug, Clone)]
pub struct IssuedAccessToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub jti: Uuid,
}

impl JwtCodec {
    pub fn new(key: &[u8], settings: TokenSettings) -> Result<JwtCodec, KeyError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort(key.len()));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "nbf", "iss", "aud", "sub"]);
        // Time is checked in `verify_at` against an explicit clock (testable, one leeway rule).
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Ok(JwtCodec {
            kid: None,
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            settings,
        })
    }

    /// The codec with key id `kid`, written into the header of every token it issues.
    pub fn with_kid(mut self, kid: impl Into<String>) -> JwtCodec {
        self.kid = Some(kid.into());
        self
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// A signed access token for `principal`, valid from `now` for the access TTL.
    pub fn issue(
        &self,
        principal: &Principal,
        now: DateTime<Utc>,
    ) -> Result<IssuedAccessToken, SignError> {
        let expires_at = now + self.settings.access_ttl;
        let jti = Uuid::now_v7();
        let claims = AccessClaims {
            sub: principal.user_id.to_string(),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: jti.to_string(),
            role: principal.role.as_str().to_owned(),
            regions: principal.regions.clone(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = self.kid.clone();
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| SignError(e.to_string()))?;
        Ok(IssuedAccessToken {
            token,
            expires_at,
            jti,
        })
    }

    /// The principal of a valid token: signature, algorithm, issuer, audience, lifetime and the
    /// claims' shapes all checked.
    pub fn verify_at(&self, token: &str, now: DateTime<Utc>) -> Result<Principal, VerifyError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|error| match error.kind() {
                ErrorKind::InvalidSignature => VerifyError::BadSignature,
                ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
                    VerifyError::WrongAlgorithm
                }
                ErrorKind::InvalidIssuer => VerifyError::WrongIssuer,
                ErrorKind::InvalidAudience => VerifyError::WrongAudience,
                ErrorKind::ExpiredSignature => VerifyError::Expired,
                ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
                ErrorKind::MissingRequiredClaim(claim) => {
                    VerifyError::InvalidClaims(format!("{claim} is missing"))
                }
                ErrorKind::InvalidClaimFormat(claim) => {
                    VerifyError::InvalidClaims(format!("{claim} is malformed"))
                }
                ErrorKind::Json(error) => VerifyError::InvalidClaims(error.to_string()),
                _ => VerifyError::Malformed,
            })?;
        let claims = data.claims;
        let now = now.timestamp();
        if claims.exp + LEEWAY_SECONDS <= now {
            return Err(VerifyError::Expired);
        }
        if claims.nbf - LEEWAY_SECONDS > now {
            return Err(VerifyError::NotYetValid);
        }
        let user_id = Uuid::parse_str(&claims.sub)
            .map_err(|_| VerifyError::InvalidClaims("sub is not a user id".into()))?;
        let role = Role::parse(&claims.role)
            .ok_or_else(|| VerifyError::InvalidClaims(format!("unknown role {:?}", claims.role)))?;
        Ok(Principal {
            user_id,
            role,
            regions: claims.regions,
        })
    }

    pub fn verify(&self, token: &str) -> Result<Principal, VerifyError> {
        self.verify_at(token, Utc::now())
    }
}

/// The `kid` of a token's header, read without verifying anything (it only chooses the key to
/// verify with).
pub fn key_id(token: &str) -> Result<Option<String>, VerifyError> {
    jsonwebtoken::decode_header(token)
        .map(|header| header.kid)
        .map_err(|_| VerifyError::Malformed)
}

/// A new opaque refresh token (256 random bits, base64url) and the SHA-256 that is stored.
pub fn new_refresh_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = refresh_token_hash(&token);
    (token, hash)
}

/// What the database keeps of a refresh token: its SHA-256. A stolen table gives no usable token.
pub fn refresh_token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef-test-key";

    fn codec() -> JwtCodec {
        JwtCodec::new(KEY, TokenSettings::default()).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap()
    }

    fn manager() -> Principal {
        Principal {
            user_id: Uuid::now_v7(),
            role: Role::Manager,
            regions: vec!["Москва".into(), "Тверь".into()],
        }
    }

    fn claims_of(token: &str) -> serde_json::Value {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn an_issued_token_verifies_to_its_principal_until_it_expires() {
        let codec = codec();
        let principal = manager();
        let issued = codec.issue(&principal, now()).unwrap();
        assert_eq!(issued.expires_at, now() + Duration::minutes(15));
        assert_eq!(codec.verify_at(&issued.token, now()), Ok(principal.clone()));
        let almost = now() + Duration::minutes(15) + Duration::seconds(LEEWAY_SECONDS - 1);
        assert_eq!(codec.verify_at(&issued.token, almost), Ok(principal));
        let after = now() + Duration::minutes(15) + Duration::seconds(LEEWAY_SECONDS);
        assert_eq!(
            codec.verify_at(&issued.token, after),
            Err(VerifyError::Expired)
        );
        let before = now() - Duration::seconds(LEEWAY_SECONDS + 1);
        assert_eq!(
            codec.verify_at(&issued.token, before),
            Err(VerifyError::NotYetValid)
        );
    }

    #[test]
    fn the_token_carries_the_standard_claims_and_role_and_regions() {
        let principal = manager();
        let token = codec().issue(&principal, now()).unwrap().token;
        let claims = claims_of(&token);
        assert_eq!(claims["sub"], principal.user_id.to_string());
        assert_eq!(claims["iss"], "servicehub");
        assert_eq!(claims["aud"], "servicehub-api");
        assert_eq!(claims["iat"], now().timestamp());
        assert_eq!(claims["exp"], (now() + Duration::minutes(15)).timestamp());
        assert_eq!(claims["role"], "manager");
        assert_eq!(claims["regions"], serde_json::json!(["Москва", "Тверь"]));
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "HS256");
    }

    #[test]
    fn tampered_tokens_and_other_keys_are_refused() {
        let codec = codec();
        let token = codec.issue(&manager(), now()).unwrap().token;
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims = claims_of(&token);
        claims["role"] = "admin".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        assert_eq!(
            codec.verify_at(&parts.join("."), now()),
            Err(VerifyError::BadSignature)
        );
        let other = JwtCodec::new(
            b"another key, also at least 32 bytes long",
            TokenSettings::default(),
        )
        .unwrap();
        assert_eq!(
            other.verify_at(&token, now()),
            Err(VerifyError::BadSignature)
        );
        for garbage in ["", "abc", "a.b.c", "Bearer x.y.z"] {
            assert!(codec.verify_at(garbage, now()).is_err(), "{garbage}");
        }
    }

    #[test]
    fn issuer_and_audience_must_match() {
        let token = codec().issue(&manager(), now()).unwrap().token;
        let audience = JwtCodec::new(
            KEY,
            TokenSettings {
                audience: "another-api".into(),
                ..TokenSettings::default()
            },
        )
        .unwrap();
        assert_eq!(
            audience.verify_at(&token, now()),
            Err(VerifyError::WrongAudience)
        );
        let issuer = JwtCodec::new(
            KEY,
            TokenSettings {
                issuer: "someone-else".into(),
                ..TokenSettings::default()
            },
        )
        .unwrap();
        assert_eq!(
            issuer.verify_at(&token, now()),
            Err(VerifyError::WrongIssuer)
        );
    }

    #[test]
    fn the_none_algorithm_and_other_algorithms_are_refused() {
        let codec = codec();
        let token = codec.issue(&manager(), now()).unwrap().token;
        let payload = token.split('.').nth(1).unwrap();
        let none = format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
        );
        assert!(codec.verify_at(&none, now()).is_err());
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims_of(&token),
            &EncodingKey::from_secret(KEY),
        )
        .unwrap();
        assert_eq!(
            codec.verify_at(&hs512, now()),
            Err(VerifyError::WrongAlgorithm)
        );
    }

    #[test]
    fn claims_must_name_a_user_and_a_role() {
        let codec = codec();
        let token = codec.issue(&manager(), now()).unwrap().token;
        let mut claims = claims_of(&token);
        claims["role"] = "superuser".into();
        let sign = |claims: &serde_json::Value| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                claims,
                &EncodingKey::from_secret(KEY),
            )
            .unwrap()
        };
        assert!(matches!(
            codec.verify_at(&sign(&claims), now()),
            Err(VerifyError::InvalidClaims(_))
        ));
        let mut claims = claims_of(&token);
        claims.as_object_mut().unwrap().remove("exp");
        assert!(matches!(
            codec.verify_at(&sign(&claims), now()),
            Err(VerifyError::InvalidClaims(_))
        ));
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(
            JwtCodec::new(b"too short", TokenSettings::default()).unwrap_err(),
            KeyError::TooShort(9)
        );
        assert!(!format!("{:?}", codec()).contains("0123456789abcdef"));
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_as_their_sha256() {
        let (a, hash_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_a, refresh_token_hash(&a));
        assert_eq!(hash_a.len(), 32);
        assert_ne!(hash_a, a.as_bytes());
    }

    #[test]
    fn a_codec_with_a_key_id_names_it_in_every_token() {
        let token = codec().issue(&manager(), now()).unwrap().token;
        assert_eq!(key_id(&token), Ok(None));
        let named = codec().with_kid("version-7");
        let token = named.issue(&manager(), now()).unwrap().token;
        assert_eq!(key_id(&token), Ok(Some("version-7".to_owned())));
        // The id only chooses the key: the signature is what is checked.
        assert!(codec().verify_at(&token, now()).is_ok());
        assert_eq!(key_id("not a token"), Err(VerifyError::Malformed));
    }
}
