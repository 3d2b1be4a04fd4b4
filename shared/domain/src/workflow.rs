//! The request lifecycle:
//!
//! ```text
//! new -> manager_assigned -> sent_to_contractors -> contractor_assigned -> in_progress -> completed
//!        any state before completed -> cancelled        manager_assigned <-> clarification_needed
//! ```
//!
//! Every transition is one workflow event plus `workflow.status_changed`.

use servicehub_events::values::RequestStatus;
use thiserror::Error;

/// Something that moves a request along.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    AssignManager,
    AskClarification,
    AnswerClarification,
    SendToContractors,
    AssignContractor,
    /// The security check reverted an assignment: the request goes back to the offered contractors.
    RevertContractorAssignment,
    StartWork,
    CompleteWork,
    Cancel,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::AssignManager,
        Action::AskClarification,
        Action::AnswerClarification,
        Action::SendToContractors,
        Action::AssignContractor,
        Action::RevertContractorAssignment,
        Action::StartWork,
        Action::CompleteWork,
        Action::Cancel,
    ];
}

/// The action is not allowed in the current status (HTTP 409 with the current status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("cannot {action:?} a request that is {current}")]
pub struct IllegalTransition {
    pub current: RequestStatus,
    pub action: Action,
}

/// The status `action` leads to from `current`, or why it cannot happen.
pub fn next_status(
    current: RequestStatus,
    action: Action,
) -> Result<RequestStatus, IllegalTransition> {
    use Action::*;
    use RequestStatus::*;
    let next = match (current, action) {
        (New, AssignManager) => ManagerAssigned,
        (ManagerAssigned, AskClarification) => ClarificationNeeded,
        (ClarificationNeeded, AnswerClarification) => ManagerAssigned,
        (ManagerAssigned, SendToContractors) => SentToContractors,
        (SentToContractors, AssignContractor) => ContractorAssigned,
        (ContractorAssigned, RevertContractorAssignment) => SentToContractors,
        (ContractorAssigned, StartWork) => InProgress,
        (InProgress, CompleteWork) => Completed,
        (status, Cancel) if !is_final(status) => Cancelled,
        _ => return Err(IllegalTransition { current, action }),
    };
    Ok(next)
}

/// Completed and cancelled requests never change again.
pub fn is_final(status: RequestStatus) -> bool {
    matches!(status, RequestStatus::Completed | RequestStatus::Cancelled)
}

/// Open requests count towards a manager's load.
pub fn is_open(status: RequestStatus) -> bool {
    !is_final(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestStatus::*;
    use proptest::prelude::*;

    #[test]
    fn the_happy_path_reaches_completed() {
        let path = [
            Action::AssignManager,
            Action::AskClarification,
            Action::AnswerClarification,
            Action::SendToContractors,
            Action::AssignContractor,
            Action::StartWork,
            Action::CompleteWork,
        ];
        let end = path
            .iter()
            .try_fold(New, |s, a| next_status(s, *a))
            .unwrap();
        assert_eq!(end, Completed);
    }

    #[test]
    fn cancel_is_allowed_before_completion_only() {
        for status in RequestStatus::ALL {
            let result = next_status(*status, Action::Cancel);
            assert_eq!(
                result.is_ok(),
                !matches!(status, Completed | Cancelled),
                "{status}"
            );
        }
    }

    #[test]
    fn illegal_moves_name_the_current_status() {
        let error = next_status(New, Action::StartWork).unwrap_err();
        assert_eq!(error.current, New);
        assert_eq!(error.to_string(), "cannot StartWork a request that is new");
    }

    proptest! {
        /// Over any sequence of actions: final states are absorbing, every accepted move is one of the
        /// design's edges, and a rejected move leaves the status unchanged.
        #[test]
        fn random_action_sequences_follow_the_design(actions in prop::collection::vec(prop::sample::select(Action::ALL.to_vec()), 0..40)) {
            let edges = [
                (New, ManagerAssigned), (ManagerAssigned, ClarificationNeeded), (ClarificationNeeded, ManagerAssigned),
                (ManagerAssigned, SentToContractors), (SentToContractors, ContractorAssigned),
                (ContractorAssigned, SentToContractors), (ContractorAssigned, InProgress), (InProgress, Completed),
            ];
            let mut status = New;
            for action in actions {
                match next_status(status, action) {
                    Ok(next) => {
                        prop_assert!(!is_final(status));
                        prop_assert!(edges.contains(&(status, next)) || next == Cancelled, "{status} -> {next}");
                        status = next;
                    }
                    Err(e) => prop_assert_eq!(e.current, status),
                }
            }
        }
    }
}
