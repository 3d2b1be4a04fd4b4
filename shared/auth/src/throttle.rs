//! Login throttling per account, as pure rules over a small state the store keeps per e-mail.
//!
//! `max_failures` failed logins within `window` lock the account for `lock`: every login attempt
//! during the lock answers 429 with `Retry-After`, even with the right password, and the password
//! is not checked at all. The state is keyed by the normalised e-mail whether or not an account
//! has it, so a lock tells nothing about which e-mails are registered. A successful login clears
//! the state.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub max_failures: u32,
    pub window: Duration,
    pub lock: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures: 5,
            window: Duration::minutes(15),
            lock: Duration::minutes(15),
        }
    }
}

/// The failures recorded for one e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureState {
    /// Failures since `window_started_at`.
    pub failures: u32,
    pub window_started_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// Whether a login attempt may be checked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Locked; try again after this long (at least one second).
    Locked {
        retry_after: Duration,
    },
}

impl Gate {
    /// Whole seconds for a `Retry-After` header, rounded up.
    pub fn retry_after_seconds(&self) -> Option<i64> {
        match self {
            Gate::Open => None,
            Gate::Locked { retry_after } => {
                let millis = retry_after.num_milliseconds().max(1);
                Some((millis + 999) / 1000)
            }
        }
    }
}

impl ThrottlePolicy {
    pub fn gate(&self, state: Option<&FailureState>, now: DateTime<Utc>) -> Gate {
        match state.and_then(|s| s.locked_until) {
            Some(until) if until > now => Gate::Locked {
                retry_after: until - now,
            },
            _ => Gate::Open,
        }
    }

    /// The state after one more failure at `now`. A window that has passed, or a lock that is
    /// over, starts counting afresh; reaching `max_failures` within the window locks.
    pub fn record_failure(&self, state: Option<&FailureState>, now: DateTime<Utc>) -> FailureState {
        let current = state.filter(|s| {
            let lock_over = s.locked_until.is_some_and(|until| until <= now);
            let window_over = s.window_started_at + self.window <= now;
            !lock_over && !window_over
        });
        let (failures, window_started_at) = match current {
            Some(s) => (s.failures.saturating_add(1), s.window_started_at),
            None => (1, now),
        };
        let locked_until = if failures >= self.max_failures {
            Some(now + self.lock)
        } else {
            None
        };
        FailureState {
            failures,
            window_started_at,
            locked_until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(minutes: i64, seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap()
            + Duration::minutes(minutes)
            + Duration::seconds(seconds)
    }

    fn fail_times(policy: &ThrottlePolicy, times: &[DateTime<Utc>]) -> Option<FailureState> {
        times.iter().fold(None, |state, now| {
            Some(policy.record_failure(state.as_ref(), *now))
        })
    }

    #[test]
    fn five_failures_within_the_window_lock_for_the_lock_period() {
        let policy = ThrottlePolicy::default();
        let four = fail_times(&policy, &[t(0, 0), t(1, 0), t(2, 0), t(3, 0)]);
        assert_eq!(four.unwrap().failures, 4);
        assert_eq!(policy.gate(four.as_ref(), t(3, 1)), Gate::Open);
        let five = policy.record_failure(four.as_ref(), t(4, 0));
        assert_eq!(five.locked_until, Some(t(19, 0)));
        let gate = policy.gate(Some(&five), t(4, 0));
        assert_eq!(
            gate,
            Gate::Locked {
                retry_after: Duration::minutes(15)
            }
        );
        assert_eq!(gate.retry_after_seconds(), Some(900));
        assert_eq!(
            policy.gate(Some(&five), t(18, 59)).retry_after_seconds(),
            Some(1)
        );
        assert_eq!(policy.gate(Some(&five), t(19, 0)), Gate::Open);
    }

    #[test]
    fn failures_spread_over_more_than_the_window_never_lock() {
        let policy = ThrottlePolicy::default();
        let times: Vec<_> = (0..10).map(|i| t(i * 4, 0)).collect();
        let state = fail_times(&policy, &times).unwrap();
        assert_eq!(state.locked_until, None);
        assert!(state.failures < 5, "{state:?}");
    }

    #[test]
    fn after_a_lock_counting_starts_afresh() {
        let policy = ThrottlePolicy::default();
        let locked = fail_times(&policy, &[t(0, 0), t(0, 1), t(0, 2), t(0, 3), t(0, 4)]).unwrap();
        assert!(locked.locked_until.is_some());
        let after = policy.record_failure(Some(&locked), t(20, 0));
        assert_eq!(
            after,
            FailureState {
                failures: 1,
                window_started_at: t(20, 0),
                locked_until: None
            }
        );
    }

    #[test]
    fn no_state_is_open() {
        let policy = ThrottlePolicy::default();
        assert_eq!(policy.gate(None, t(0, 0)), Gate::Open);
        assert_eq!(Gate::Open.retry_after_seconds(), None);
        let sub_second = Gate::Locked {
            retry_after: Duration::milliseconds(10),
        };
        assert_eq!(sub_second.retry_after_seconds(), Some(1));
    }
}
