//! The first admin, from deploy-time configuration.
//!
//! When `BOOTSTRAP_ADMIN_EMAIL` is set on the `auth-login` function, the first login handled by
//! each execution environment makes sure an account with that e-mail exists: if none does, an
//! admin is created with the password held in the Secrets Manager secret
//! `BOOTSTRAP_ADMIN_PASSWORD_SECRET_NAME` (default `servicehub/bootstrap-admin-password`), and an
//! `audit.system_event` (`auth.bootstrap_admin_created`) is emitted. It is idempotent: an existing
//! account with that e-mail (whatever became of it) is never touched, so rotating or deleting the
//! secret afterwards changes nothing. The admin then logs in normally with that e-mail and password.

use crate::config::BootstrapAdmin;
use crate::input::{DisplayName, NewAccount, NotificationPreferences, Password};
use crate::password::hash_password;
use crate::secrets::SecretError;
use crate::service::AuthServices;
use crate::store;
use chrono::Utc;
use serde_json::json;
use servicehub_domain::validation::ValidationErrors;
use servicehub_events::Envelope;
use servicehub_events::catalog::SystemEvent;
use servicehub_events::values::Role;
use thiserror::Error;
use uuid::Uuid;

#[derive(Debug, Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("the bootstrap admin's password or name is unusable: {0}")]
    Invalid(String),
    #[error("{0}")]
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootstrapOutcome {
    NotConfigured,
    AlreadyExists,
    Created(Uuid),
}

/// Runs [`ensure_admin`] once per execution environment. A failure (database or Secrets Manager
/// down) is logged and retried on the next login; it never fails the login itself. A password
/// that breaks the policy is reported once and not retried.
pub async fn ensure_once(auth: &AuthServices) {
    if auth.config.bootstrap_admin.is_none() {
        return;
    }
    let result = auth
        .bootstrap_done
        .get_or_try_init(|| async {
            match ensure_admin(auth).await {
                Ok(outcome) => {
                    tracing::info!(?outcome, "bootstrap admin checked");
                    Ok(())
                }
                Err(BootstrapError::Invalid(reason)) => {
                    tracing::error!(%reason, "bootstrap admin not created");
                    Ok(())
                }
                Err(error) => Err(error),
            }
        })
        .await;
    if let Err(error) = result {
        tracing::warn!(%error, "bootstrap admin check failed; retrying on the next login");
    }
}

/// Creates the configured admin unless an account with its e-mail exists.
pub async fn ensure_admin(auth: &AuthServices) -> Result<BootstrapOutcome, BootstrapError> {
    let Some(admin) = &auth.config.bootstrap_admin else {
        return Ok(BootstrapOutcome::NotConfigured);
    };
    let pool = &auth.services.pool;
    if store::email_exists(&mut *pool.acquire().await?, admin.email.as_str()).await? {
        return Ok(BootstrapOutcome::AlreadyExists);
    }
    let secret = auth.secrets.get(&admin.password_secret_name).await?;
    let account = account_of(admin, &secret)?;
    let password = account.password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| BootstrapError::Other(e.to_string()))?
        .map_err(|e| BootstrapError::Other(e.to_string()))?;
    let id = Uuid::now_v7();
    let now = Utc::now();
    let mut tx = pool.begin().await?;
    if !store::insert_user(&mut tx, id, &account, &hash, now).await? {
        // Another execution environment was faster.
        return Ok(BootstrapOutcome::AlreadyExists);
    }
    // The operator configured the address: it is trusted as given.
    crate::contact::claim_contacts(&mut tx, id, Some(store::VouchedBy::Bootstrap), now).await?;
    let event = Envelope::new(
        auth.source(),
        SystemEvent {
            component: auth.source().to_owned(),
            kind: "auth.bootstrap_admin_created".into(),
            subject_type: "user".into(),
            subject_id: id.to_string(),
            message: "the first admin was created from the deployment's configuration".into(),
            details: json!({"role": "admin", "password_secret": admin.password_secret_name}),
            at: now,
        },
    );
    let events = [event];
    auth.services.commit_with_events(tx, &events).await?;
    tracing::info!(user_id = %id, "bootstrap admin created");
    Ok(BootstrapOutcome::Created(id))
}

/// The admin account for `admin` with the password `secret`, checked like any other password.
pub fn account_of(admin: &BootstrapAdmin, secret: &[u8]) -> Result<NewAccount, BootstrapError> {
    let mut errors = ValidationErrors::default();
    let text = std::str::from_utf8(secret)
        .map_err(|_| BootstrapError::Invalid("the password secret is not UTF-8 text".into()))?;
    let password = Password::parse(
        text,
        "bootstrap admin password",
        Some(&admin.email),
        &mut errors,
    );
    let display_name = DisplayName::parse(&admin.display_name, "BOOTSTRAP_ADMIN_NAME", &mut errors);
    match (password, display_name) {
        (Some(password), Some(display_name)) => Ok(NewAccount {
            email: admin.email.clone(),
            password,
            display_name,
            phone: None,
            role: Role::Admin,
            regions: Vec::new(),
            categories: Vec::new(),
            notifications: NotificationPreferences::default(),
        }),
        _ => Err(BootstrapError::Invalid(errors.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Email;

    fn admin() -> BootstrapAdmin {
        BootstrapAdmin {
            email: Email::parse(
                "root@servicehub.example",
                "e",
                &mut ValidationErrors::default(),
            )
            .unwrap(),
            display_name: "Administrator".into(),
            password_secret_name: "servicehub/bootstrap-admin-password".into(),
        }
    }

    #[test]
    fn the_secret_becomes_an_admin_account_under_the_password_policy() {
        let account = account_of(&admin(), b"a long enough initial password").unwrap();
        assert_eq!(account.role, Role::Admin);
        assert_eq!(account.email.as_str(), "root@servicehub.example");
        assert_eq!(account.password.expose(), "a long enough initial password");
        assert!(matches!(
            account_of(&admin(), b"short"),
            Err(BootstrapError::Invalid(_))
        ));
        assert!(matches!(
            account_of(
                &admin(),
                &[0xff, 0xfe, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41]
            ),
            Err(BootstrapError::Invalid(_))
        ));
    }
}
