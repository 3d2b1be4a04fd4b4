//! Which manager gets a new request, and how urgent it is for them.

use chrono::{DateTime, Utc};
use servicehub_events::values::{Priority, Urgency};
use uuid::Uuid;

/// A manager serving the request's region, with their current load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerCandidate {
    pub manager_id: Uuid,
    /// Requests assigned to them that are neither completed nor cancelled.
    pub open_requests: i64,
    /// When they were last given a request; `None` if never.
    pub last_assigned_at: Option<DateTime<Utc>>,
}

/// The chosen manager and why, in words for the event and the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerChoice {
    pub manager_id: Uuid,
    pub reason: String,
}

/// The manager with the fewest open requests; on a tie, the one idle longest (never assigned
/// counts as idle longest); then the smallest id, so the choice is deterministic.
pub fn choose_manager(candidates: &[ManagerCandidate]) -> Option<ManagerChoice> {
    let chosen = candidates.iter().min_by(|a, b| {
        a.open_requests
            .cmp(&b.open_requests)
            // None (never assigned) sorts before any time: Option's order does exactly that.
            .then(a.last_assigned_at.cmp(&b.last_assigned_at))
            .then(a.manager_id.cmp(&b.manager_id))
    })?;
    let idle = match chosen.last_assigned_at {
        Some(at) => format!("last assigned at {}", at.to_rfc3339()),
        None => "never assigned before".to_owned(),
    };
    Some(ManagerChoice {
        manager_id: chosen.manager_id,
        reason: format!(
            "fewest open requests in the region ({} of {} managers considered), {idle}",
            chosen.open_requests,
            candidates.len()
        ),
    })
}

/// The handling priority that follows from the customer's urgency.
pub fn priority_for(urgency: Urgency) -> Priority {
    match urgency {
        Urgency::Low => Priority::Low,
        Urgency::Normal => Priority::Normal,
        Urgency::High => Priority::High,
        Urgency::Urgent => Priority::Critical,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn candidate(n: u128, open: i64, last_hour: Option<u32>) -> ManagerCandidate {
        ManagerCandidate {
            manager_id: Uuid::from_u128(n),
            open_requests: open,
            last_assigned_at: last_hour
                .map(|h| Utc.with_ymd_and_hms(2026, 11, 21, h, 0, 0).unwrap()),
        }
    }

    #[test]
    fn fewest_open_requests_wins() {
        let chosen = choose_manager(&[
            candidate(1, 5, None),
            candidate(2, 2, Some(9)),
            candidate(3, 3, None),
        ]);
        assert_eq!(chosen.unwrap().manager_id, Uuid::from_u128(2));
    }

    #[test]
    fn ties_go_to_the_manager_idle_longest_and_never_assigned_first() {
        let chosen = choose_manager(&[
            candidate(1, 2, Some(11)),
            candidate(2, 2, Some(8)),
            candidate(3, 4, None),
        ]);
        assert_eq!(chosen.unwrap().manager_id, Uuid::from_u128(2));
        let chosen = choose_manager(&[candidate(1, 2, Some(8)), candidate(2, 2, None)]).unwrap();
        assert_eq!(chosen.manager_id, Uuid::from_u128(2));
        assert!(
            chosen.reason.contains("never assigned"),
            "{}",
            chosen.reason
        );
    }

    #[test]
    fn full_ties_are_deterministic_and_nobody_means_none() {
        let chosen = choose_manager(&[candidate(7, 1, Some(8)), candidate(3, 1, Some(8))]);
        assert_eq!(chosen.unwrap().manager_id, Uuid::from_u128(3));
        assert_eq!(choose_manager(&[]), None);
    }

    #[test]
    fn urgent_requests_are_critical() {
        assert_eq!(priority_for(Urgency::Urgent), Priority::Critical);
        assert_eq!(priority_for(Urgency::Low), Priority::Low);
    }
}
