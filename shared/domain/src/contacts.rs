//! Proving a contact before anything else is sent to it: the one-time codes and the limits a real
//! sender needs. Pure: the auth functions and notify keep the state, this module decides.
//!
//! An account's e-mail, phone and Telegram chat are *claimed*, not proved, when someone registers
//! with them. notify sends a claimed contact nothing but a code (a fixed text with no user input
//! in it) until its owner types the code back; only then do messages about requests, documents
//! and payments go there. Contacts an admin enters (`POST /users`) or the operator configures
//! (the bootstrap admin) are taken as proved by them.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use servicehub_events::values::NotificationChannel;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// How long a code can be typed back.
pub const CODE_LIFETIME: Duration = Duration::minutes(15);
/// Wrong codes accepted per code; then the code is dead and a new one must be asked for.
pub const MAX_WRONG_CODES: i32 = 5;
/// Between two codes for one account's contact.
pub const RESEND_AFTER: Duration = Duration::seconds(60);
/// Codes one address receives, across every account that claims it, per hour and per day: what
/// stops registrations with somebody else's phone from flooding it.
pub const PER_ADDRESS_PER_HOUR: usize = 5;
pub const PER_ADDRESS_PER_DAY: usize = 10;

/// A six-digit one-time code.
#[derive(Clone, PartialEq, Eq)]
pub struct ContactCode(String);

impl std::fmt::Debug for ContactCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContactCode(******)")
    }
}

impl ContactCode {
    /// A fresh code from the thread's CSPRNG.
    pub fn generate() -> ContactCode {
        ContactCode(format!("{:06}", rand::rng().random_range(0..1_000_000u32)))
    }

    /// What the owner typed: six ASCII digits (spaces around ignored), or nothing.
    pub fn parse(text: &str) -> Option<ContactCode> {
        let text = text.trim();
        (text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| ContactCode(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What is stored: the SHA-256 of the code bound to the account, channel and address, so a
    /// stored hash is worthless for any other contact.
    pub fn hash(&self, user_id: Uuid, channel: NotificationChannel, address: &str) -> Vec<u8> {
        let mut hasher = Sha256::new();
        hasher.update(user_id.as_bytes());
        hasher.update(channel.as_str().as_bytes());
        hasher.update([0]);
        hasher.update(address.as_bytes());
        hasher.update([0]);
        hasher.update(self.0.as_bytes());
        hasher.finalize().to_vec()
    }
}

/// Compares two hashes in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the database holds about one contact of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactState {
    pub verified: bool,
    pub code_hash: Option<Vec<u8>>,
    pub code_expires_at: Option<DateTime<Utc>>,
    pub failed_attempts: i32,
    /// When the latest code was asked for.
    pub code_requested_at: Option<DateTime<Utc>>,
}

/// Why a new code is not sent now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRefusal {
    AlreadyVerified,
    /// Ask again in this many seconds (at least 1).
    TooSoon {
        retry_after: i64,
    },
}

/// Whether a new code may be sent to a contact: not once it is proved, not within
/// [`RESEND_AFTER`] of the last one, and not past the address's caps (`recent`: when codes were
/// asked for this address in the last day, by any account).
pub fn may_send_code(
    state: &ContactState,
    recent: &[DateTime<Utc>],
    now: DateTime<Utc>,
) -> Result<(), CodeRefusal> {
    if state.verified {
        return Err(CodeRefusal::AlreadyVerified);
    }
    let mut wait = Duration::zero();
    if let Some(last) = state.code_requested_at {
        wait = wait.max(last + RESEND_AFTER - now);
    }
    let mut wait_for_cap = |window: Duration, cap: usize| {
        let mut within: Vec<DateTime<Utc>> = recent
            .iter()
            .copied()
            .filter(|at| *at > now - window)
            .collect();
        if within.len() >= cap {
            within.sort();
            // The window frees a place when its oldest code leaves it.
            let frees = within[within.len() - cap] + window;
            wait = wait.max(frees - now);
        }
    };
    wait_for_cap(Duration::hours(1), PER_ADDRESS_PER_HOUR);
    wait_for_cap(Duration::days(1), PER_ADDRESS_PER_DAY);
    if wait > Duration::zero() {
        let seconds = wait.num_seconds() + i64::from(wait.subsec_nanos() > 0);
        return Err(CodeRefusal::TooSoon {
            retry_after: seconds.max(1),
        });
    }
    Ok(())
}

/// What typing a code back does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right: the contact is proved.
    Verified,
    /// Already proved before.
    AlreadyVerified,
    /// No live code: none was sent yet, it expired, or it was used up.
    NoLiveCode,
    /// Wrong; this many tries remain for this code (0: it is now dead).
    Wrong { attempts_left: i32 },
    /// The code took [`MAX_WRONG_CODES`] wrong tries already.
    TooManyWrong,
}

/// Checks a typed code against the contact's live code.
pub fn check_code(
    state: &ContactState,
    typed: &ContactCode,
    user_id: Uuid,
    channel: NotificationChannel,
    address: &str,
    now: DateTime<Utc>,
) -> CodeCheck {
    if state.verified {
        return CodeCheck::AlreadyVerified;
    }
    let (Some(hash), Some(expires_at)) = (&state.code_hash, state.code_expires_at) else {
        return CodeCheck::NoLiveCode;
    };
    if now >= expires_at {
        return CodeCheck::NoLiveCode;
    }
    if state.failed_attempts >= MAX_WRONG_CODES {
        return CodeCheck::TooManyWrong;
    }
    if same(hash, &typed.hash(user_id, channel, address)) {
        CodeCheck::Verified
    } else {
        CodeCheck::Wrong {
            attempts_left: MAX_WRONG_CODES - state.failed_attempts - 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unproved() -> ContactState {
        ContactState {
            verified: false,
            code_hash: None,
            code_expires_at: None,
            failed_attempts: 0,
            code_requested_at: None,
        }
    }

    fn with_code(code: &ContactCode, user: Uuid, now: DateTime<Utc>) -> ContactState {
        ContactState {
            code_hash: Some(code.hash(user, NotificationChannel::Sms, "+79990000000")),
            code_expires_at: Some(now + CODE_LIFETIME),
            code_requested_at: Some(now),
            ..unproved()
        }
    }

    #[test]
    fn codes_are_six_digits_and_parse_back() {
        for _ in 0..1000 {
            let code = ContactCode::generate();
            assert_eq!(code.as_str().len(), 6);
            assert_eq!(
                ContactCode::parse(&format!(" {} ", code.as_str())),
                Some(code)
            );
        }
        for bad in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", "12 456"] {
            assert_eq!(ContactCode::parse(bad), None, "{bad:?}");
        }
        assert!(!format!("{:?}", ContactCode::generate()).contains(char::is_numeric));
    }

    #[test]
    fn a_hash_is_bound_to_its_account_channel_and_address() {
        let code = ContactCode::parse("123456").unwrap();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let base = code.hash(a, NotificationChannel::Sms, "+7999");
        assert_eq!(base.len(), 32);
        assert_ne!(base, code.hash(b, NotificationChannel::Sms, "+7999"));
        assert_ne!(base, code.hash(a, NotificationChannel::Email, "+7999"));
        assert_ne!(base, code.hash(a, NotificationChannel::Sms, "+7998"));
    }

    #[test]
    fn the_right_code_proves_the_contact_until_it_expires() {
        let (user, now) = (Uuid::new_v4(), Utc::now());
        let code = ContactCode::parse("000042").unwrap();
        let state = with_code(&code, user, now);
        let check = |state: &ContactState, typed: &str, at| {
            let typed = ContactCode::parse(typed).unwrap();
            check_code(
                state,
                &typed,
                user,
                NotificationChannel::Sms,
                "+79990000000",
                at,
            )
        };
        assert_eq!(check(&state, "000042", now), CodeCheck::Verified);
        assert_eq!(
            check(&state, "000042", now + CODE_LIFETIME),
            CodeCheck::NoLiveCode
        );
        assert_eq!(
            check(&state, "000043", now),
            CodeCheck::Wrong { attempts_left: 4 }
        );
        assert_eq!(check(&unproved(), "000042", now), CodeCheck::NoLiveCode);
        let verified = ContactState {
            verified: true,
            ..state.clone()
        };
        assert_eq!(check(&verified, "000042", now), CodeCheck::AlreadyVerified);
    }

    #[test]
    fn five_wrong_codes_kill_the_code_even_for_the_right_one() {
        let (user, now) = (Uuid::new_v4(), Utc::now());
        let code = ContactCode::parse("314159").unwrap();
        let mut state = with_code(&code, user, now);
        for left in (0..MAX_WRONG_CODES).rev() {
            let wrong = ContactCode::parse("271828").unwrap();
            let check = check_code(
                &state,
                &wrong,
                user,
                NotificationChannel::Sms,
                "+79990000000",
                now,
            );
            assert_eq!(
                check,
                CodeCheck::Wrong {
                    attempts_left: left
                }
            );
            state.failed_attempts += 1;
        }
        let check = check_code(
            &state,
            &code,
            user,
            NotificationChannel::Sms,
            "+79990000000",
            now,
        );
        assert_eq!(check, CodeCheck::TooManyWrong);
    }

    #[test]
    fn codes_are_paced_per_contact_and_capped_per_address() {
        let now = Utc::now();
        assert_eq!(may_send_code(&unproved(), &[], now), Ok(()));
        let just_sent = ContactState {
            code_requested_at: Some(now - Duration::seconds(20)),
            ..unproved()
        };
        assert_eq!(
            may_send_code(&just_sent, &[], now),
            Err(CodeRefusal::TooSoon { retry_after: 40 })
        );
        let verified = ContactState {
            verified: true,
            ..unproved()
        };
        assert_eq!(
            may_send_code(&verified, &[], now),
            Err(CodeRefusal::AlreadyVerified)
        );
        // Five codes to the address in the last hour (other accounts): the sixth waits until
        // the oldest of them is an hour old.
        let hour: Vec<_> = (1..=5).map(|m| now - Duration::minutes(m * 10)).collect();
        assert_eq!(
            may_send_code(&unproved(), &hour, now),
            Err(CodeRefusal::TooSoon {
                retry_after: 10 * 60
            })
        );
        assert_eq!(may_send_code(&unproved(), &hour[..4], now), Ok(()));
        // Ten in the day, spread out so the hour is free: the day's cap holds.
        let day: Vec<_> = (1..=10).map(|h| now - Duration::hours(h * 2)).collect();
        assert_eq!(
            may_send_code(&unproved(), &day, now),
            Err(CodeRefusal::TooSoon {
                retry_after: 4 * 3600
            })
        );
        assert_eq!(may_send_code(&unproved(), &day[..9], now), Ok(()));
    }
}
