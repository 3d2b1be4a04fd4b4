//! Auth settings from environment variables. No secret is ever read from the environment: the
//! signing key and the first admin's password come from Secrets Manager, named here.

use crate::input::Email;
use crate::throttle::ThrottlePolicy;
use crate::token::TokenSettings;
use chrono::Duration;
use servicehub_domain::validation::ValidationErrors;
use servicehub_platform::config::{ConfigError, Vars};

pub const DEFAULT_JWT_SECRET_NAME: &str = "servicehub/jwt-signing-key";
pub const DEFAULT_BOOTSTRAP_PASSWORD_SECRET_NAME: &str = "servicehub/bootstrap-admin-password";

/// The first admin, created from configuration (see [`crate::bootstrap`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapAdmin {
    pub email: Email,
    pub display_name: String,
    /// The Secrets Manager secret whose SecretString is the initial password.
    pub password_secret_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Secrets Manager secret (name or ARN) holding the HS256 key (its SecretString bytes, or its
    /// SecretBinary), at least 32 bytes.
    pub jwt_secret_name: String,
    /// How often the signing keys are read again (`JWT_KEY_REFRESH_SECONDS`, default 300): after
    /// a rotation, new tokens are signed with the new key within this long.
    pub jwt_key_refresh: std::time::Duration,
    pub tokens: TokenSettings,
    pub throttle: ThrottlePolicy,
    pub bootstrap_admin: Option<BootstrapAdmin>,
}

impl AuthConfig {
    pub fn from_env() -> Result<AuthConfig, ConfigError> {
        AuthConfig::from_vars(std::env::vars())
    }

    /// Reads the settings from `vars` (testable without touching the process environment).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<AuthConfig, ConfigError> {
        let vars = Vars::new(vars);
        let get = |name: &str| vars.get(name);
        let seconds = |name: &'static str, default: i64| -> Result<Duration, ConfigError> {
            match get(name) {
                None => Ok(Duration::seconds(default)),
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0 && *n <= 366 * 24 * 3600)
                    .map(Duration::seconds)
                    .ok_or_else(|| ConfigError::Invalid {
                        name,
                        reason: format!("{v:?} is not a positive number of seconds"),
                    }),
            }
        };
        let defaults = TokenSettings::default();
        let throttle_defaults = ThrottlePolicy::default();
        let max_failures = vars.number("LOGIN_MAX_FAILURES", throttle_defaults.max_failures, 1)?;
        let bootstrap_admin =
            match get("BOOTSTRAP_ADMIN_EMAIL") {
                None => None,
                Some(raw) => {
                    let mut errors = ValidationErrors::default();
                    let email = Email::parse(&raw, "BOOTSTRAP_ADMIN_EMAIL", &mut errors)
                        .ok_or_else(|| ConfigError::Invalid {
                            name: "BOOTSTRAP_ADMIN_EMAIL",
                            reason: errors.to_string(),
                        })?;
                    Some(BootstrapAdmin {
                        email,
                        display_name: get("BOOTSTRAP_ADMIN_NAME")
                            .unwrap_or_else(|| "Administrator".into()),
                        password_secret_name: get("BOOTSTRAP_ADMIN_PASSWORD_SECRET_NAME")
                            .unwrap_or_else(|| DEFAULT_BOOTSTRAP_PASSWORD_SECRET_NAME.into()),
                    })
                }
            };
        Ok(AuthConfig {
            jwt_secret_name: get("JWT_SECRET_NAME")
                .unwrap_or_else(|| DEFAULT_JWT_SECRET_NAME.into()),
            jwt_key_refresh: seconds("JWT_KEY_REFRESH_SECONDS", 300)?
                .to_std()
                .expect("positive"),
            tokens: TokenSettings {
                issuer: get("JWT_ISSUER").unwrap_or(defaults.issuer),
                audience: get("JWT_AUDIENCE").unwrap_or(defaults.audience),
                access_ttl: seconds("ACCESS_TOKEN_TTL_SECONDS", 15 * 60)?,
                refresh_ttl: seconds("REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600)?,
            },
            throttle: ThrottlePolicy {
                max_failures,
                window: seconds("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)?,
                lock: seconds("LOGIN_LOCK_SECONDS", 15 * 60)?,
            },
            bootstrap_admin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let config = AuthConfig::from_vars(Vars::of(&[])).unwrap();
        assert_eq!(config.jwt_secret_name, "servicehub/jwt-signing-key");
        assert_eq!(config.tokens, TokenSettings::default());
        assert_eq!(config.tokens.access_ttl, Duration::minutes(15));
        assert_eq!(config.throttle, ThrottlePolicy::default());
        assert_eq!(config.bootstrap_admin, None);
    }

    #[test]
    fn overrides_and_the_bootstrap_admin() {
        let config = AuthConfig::from_vars(Vars::of(&[
            ("JWT_SECRET_NAME", "prod/jwt"),
            ("JWT_ISSUER", "https://auth.servicehub.example"),
            ("JWT_AUDIENCE", "servicehub"),
            ("ACCESS_TOKEN_TTL_SECONDS", "300"),
            ("LOGIN_MAX_FAILURES", "3"),
            ("BOOTSTRAP_ADMIN_EMAIL", " Root@Servicehub.Example "),
        ]))
        .unwrap();
        assert_eq!(config.jwt_secret_name, "prod/jwt");
        assert_eq!(config.tokens.access_ttl, Duration::minutes(5));
        assert_eq!(config.tokens.audience, "servicehub");
        assert_eq!(config.throttle.max_failures, 3);
        let admin = config.bootstrap_admin.unwrap();
        assert_eq!(admin.email.as_str(), "root@servicehub.example");
        assert_eq!(
            admin.password_secret_name,
            "servicehub/bootstrap-admin-password"
        );
    }

    #[test]
    fn invalid_values_are_named() {
        for (name, value) in [
            ("ACCESS_TOKEN_TTL_SECONDS", "0"),
            ("REFRESH_TOKEN_TTL_SECONDS", "soon"),
            ("LOGIN_MAX_FAILURES", "-1"),
            ("BOOTSTRAP_ADMIN_EMAIL", "root"),
        ] {
            let error = AuthConfig::from_vars(Vars::of(&[(name, value)])).unwrap_err();
            assert!(error.to_string().contains(name), "{error}");
        }
    }
}
