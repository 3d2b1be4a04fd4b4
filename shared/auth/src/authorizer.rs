//! The Lambda REQUEST authorizer of the HTTP API (payload format 2.0, simple responses).
//!
//! It reads `Authorization: Bearer <jwt>` (from `headers`, or else the first `identitySource`),
//! verifies the access token with the signing key, and answers
//! `{"isAuthorized": true, "context": {"sub", "role", "regions"}}`; API Gateway hands that context
//! to the route's function as `requestContext.authorizer.lambda`, where
//! `servicehub_platform::http::RequestInfo` reads the caller's `Identity`. Anything else answers
//! `{"isAuthorized": false}` (API Gateway: 403; a request without the header never reaches the
//! authorizer and gets 401).
//!
//! A valid signature is not enough: the account must still exist and be active, and the role and
//! regions handed on are the account's current ones, read from the database. API Gateway caches
//! an answer per Authorization header for `ReauthorizeEvery` seconds (the template's
//! `AuthorizerCacheSeconds`), so a disabled or demoted user is refused at the latest that long
//! after the change, instead of when their token expires.

use crate::config::AuthConfig;
use crate::secrets::{SecretError, Secrets, SigningKeys};
use crate::store::{self, Credentials};
use crate::token::{JwtCodec, Principal, VerifyError, key_id};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;

/// The bearer token of an authorizer event, if it carries one.
pub fn bearer_token(event: &Value) -> Option<&str> {
    let from_headers = event
        .get("headers")
        .and_then(Value::as_object)
        .and_then(|headers| {
            headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                .and_then(|(_, value)| value.as_str())
        });
    let from_identity = || {
        event
            .get("identitySource")
            .and_then(Value::as_array)
            .and_then(|sources| sources.first())
            .and_then(Value::as_str)
    };
    let value = from_headers.or_else(from_identity)?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Why a request was not authorized (for the logs only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    NoBearerToken,
    Invalid(VerifyError),
    /// The token is genuine but its account no longer exists.
    UnknownAccount,
    /// The token is genuine but its account was disabled.
    AccountDisabled,
}

/// Why the authorizer could not decide. The invocation fails and API Gateway answers 500 without
/// caching anything; a denial would be cached for the whole `ReauthorizeEvery` period.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizerError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("reading the account failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// The principal to hand on for a verified token, from what the database says about its account
/// now (`None`: no such account).
pub fn current_principal(
    verified: Principal,
    account: Option<Credentials>,
) -> Result<Principal, Denial> {
    let account = account.ok_or(Denial::UnknownAccount)?;
    if !account.active {
        return Err(Denial::AccountDisabled);
    }
    debug_assert_eq!(account.principal.user_id, verified.user_id);
    Ok(account.principal)
}

/// The decision for `event` at `now`.
pub fn decide(codec: &JwtCodec, event: &Value, now: DateTime<Utc>) -> Result<Principal, Denial> {
    let token = bearer_token(event).ok_or(Denial::NoBearerToken)?;
    codec.verify_at(token, now).map_err(Denial::Invalid)
}

/// The simple response API Gateway expects.
pub fn simple_response(decision: &Result<Principal, Denial>) -> Value {
    match decision {
        Ok(principal) => json!({
            "isAuthorized": true,
            "context": {
                "sub": principal.user_id.to_string(),
                "role": principal.role.as_str(),
                "regions": principal.regions,
            }
        }),
        Err(_) => json!({"isAuthorized": false}),
    }
}

/// The authorizer function's state: the signing key, fetched once per execution environment, and
/// a small pool to read accounts with.
pub struct Authorizer {
    signing_keys: SigningKeys,
    pool: PgPool,
}

impl Authorizer {
    pub async fn from_env() -> Result<Authorizer, Box<dyn std::error::Error + Send + Sync>> {
        let config = AuthConfig::from_env()?;
        let platform = servicehub_platform::config::Config::from_env("authorizer")?;
        let secrets = Secrets::from_env().await;
        Ok(Authorizer {
            signing_keys: SigningKeys::new(
                secrets,
                config.jwt_secret_name,
                config.tokens,
                config.jwt_key_refresh,
            ),
            pool: servicehub_platform::db::pool(&platform)?,
        })
    }

    /// Answers one authorizer event. Only an unavailable signing key or database is an error (the
    /// invocation fails and API Gateway answers 500): a bad token or account is a plain denial.
    pub async fn handle(&self, event: &Value) -> Result<Value, AuthorizerError> {
        let decision = self.decide(event).await?;
        let route = event
            .get("routeKey")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match &decision {
            Ok(principal) => {
                tracing::debug!(route, user_id = %principal.user_id, role = %principal.role, "authorized")
            }
            Err(denial) => tracing::info!(route, ?denial, "not authorized"),
        }
        Ok(simple_response(&decision))
    }

    async fn decide(&self, event: &Value) -> Result<Result<Principal, Denial>, AuthorizerError> {
        let Some(token) = bearer_token(event) else {
            return Ok(Err(Denial::NoBearerToken));
        };
        let kid = match key_id(token) {
            Ok(kid) => kid,
            Err(error) => return Ok(Err(Denial::Invalid(error))),
        };
        let Some(codec) = self.signing_keys.verifier(kid.as_deref()).await? else {
            return Ok(Err(Denial::Invalid(VerifyError::UnknownKey)));
        };
        let verified = match decide(&codec, event, Utc::now()) {
            Ok(verified) => verified,
            Err(denial) => return Ok(Err(denial)),
        };
        let mut conn = self.pool.acquire().await?;
        let account = store::credentials_by_id(&mut conn, verified.user_id).await?;
        Ok(current_principal(verified, account))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenSettings;
    use chrono::TimeZone;
    use servicehub_events::values::Role;
    use uuid::Uuid;

    fn codec() -> JwtCodec {
        JwtCodec::new(
            b"an authorizer test key of 32+ bytes!",
            TokenSettings::default(),
        )
        .unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap()
    }

    fn event(authorization: Option<&str>) -> Value {
        let mut event = json!({
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": "arn:aws:execute-api:eu-central-1:123456789012:a1b2c3d4e5/$default/GET/me",
            "routeKey": "GET /me",
            "rawPath": "/me",
            "headers": {"host": "api.servicehub.test"},
            "requestContext": {"http": {"method": "GET", "path": "/me"}}
        });
        if let Some(value) = authorization {
            event["headers"]["authorization"] = json!(value);
            event["identitySource"] = json!([value]);
        }
        event
    }

    #[test]
    fn a_valid_bearer_token_is_authorized_with_its_claims_as_context() {
        let codec = codec();
        let principal = Principal {
            user_id: Uuid::now_v7(),
            role: Role::Contractor,
            regions: vec!["Москва".into()],
        };
        let token = codec.issue(&principal, now()).unwrap().token;
        let response = simple_response(&decide(
            &codec,
            &event(Some(&format!("Bearer {token}"))),
            now(),
        ));
        assert_eq!(
            response,
            json!({"isAuthorized": true, "context": {"sub": principal.user_id.to_string(), "role": "contractor", "regions": ["Москва"]}})
        );
        // The context is exactly what the handlers read into their Identity.
        let fields = response["context"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let identity = servicehub_platform::http::identity_from_claims(&fields).unwrap();
        assert_eq!(
            (identity.user_id, identity.role, identity.regions),
            (principal.user_id, principal.role, principal.regions)
        );
        // Scheme in any case; the identity source alone is enough.
        let mut lower = event(Some(&format!("bearer {token}")));
        lower["headers"]
            .as_object_mut()
            .unwrap()
            .remove("authorization");
        assert!(decide(&codec, &lower, now()).is_ok());
    }

    #[test]
    fn anything_else_is_denied() {
        let codec = codec();
        let token = codec
            .issue(
                &Principal {
                    user_id: Uuid::now_v7(),
                    role: Role::Admin,
                    regions: vec![],
                },
                now(),
            )
            .unwrap()
            .token;
        assert_eq!(
            decide(&codec, &event(None), now()),
            Err(Denial::NoBearerToken)
        );
        for value in [
            token.as_str(),
            "Basic dXNlcjpwYXNz",
            "Bearer ",
            "Bearer not-a-jwt",
        ] {
            let decision = decide(&codec, &event(Some(value)), now());
            assert!(decision.is_err(), "{value}");
            assert_eq!(simple_response(&decision), json!({"isAuthorized": false}));
        }
        let later = now() + chrono::Duration::hours(1);
        assert_eq!(
            decide(&codec, &event(Some(&format!("Bearer {token}"))), later),
            Err(Denial::Invalid(VerifyError::Expired))
        );
    }

    #[test]
    fn the_account_as_it_is_now_decides() {
        let verified = Principal {
            user_id: Uuid::now_v7(),
            role: Role::Manager,
            regions: vec!["Москва".into()],
        };
        let account = |role, regions: &[&str], active| Credentials {
            principal: Principal {
                user_id: verified.user_id,
                role,
                regions: regions.iter().map(|r| r.to_string()).collect(),
            },
            password_hash: None,
            active,
        };
        assert_eq!(
            current_principal(verified.clone(), None),
            Err(Denial::UnknownAccount)
        );
        assert_eq!(
            current_principal(
                verified.clone(),
                Some(account(Role::Manager, &["Москва"], false))
            ),
            Err(Denial::AccountDisabled)
        );
        // Demoted and moved since the token was issued: what holds now is handed on.
        let now_customer = current_principal(
            verified.clone(),
            Some(account(Role::Customer, &["Казань"], true)),
        )
        .unwrap();
        assert_eq!(
            (now_customer.role, now_customer.regions),
            (Role::Customer, vec!["Казань".to_owned()])
        );
    }
}
