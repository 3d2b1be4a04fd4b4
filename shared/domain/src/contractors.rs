//! What security officers decide about contractors: verification (pending -> verified or
//! rejected) and access (granted unless revoked). Only verified contractors whose access is not
//! revoked get offers.

use crate::validation::{MULTI_LINE, ObjectReader, ValidationErrors, text};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use servicehub_events::values::Role;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Pending,
    Verified,
    Rejected,
}

impl Verification {
    pub const ALL: [Verification; 3] = [
        Verification::Pending,
        Verification::Verified,
        Verification::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Pending => "pending",
            Verification::Verified => "verified",
            Verification::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<Verification> {
        Verification::ALL.into_iter().find(|v| v.as_str() == raw)
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A security decision about one contractor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityDecision {
    Verify,
    Reject,
    GrantAccess,
    RevokeAccess,
}

/// Where a contractor stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractorStanding {
    pub verification: Verification,
    pub access_revoked: bool,
}

/// The decision cannot apply to the contractor as they stand (409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlreadyDecided(pub String);

/// The standing `decision` leads to. Deciding what already holds is a conflict rather than a
/// silent success, so that two officers acting at once learn about each other.
pub fn decide_standing(
    current: ContractorStanding,
    decision: SecurityDecision,
) -> Result<ContractorStanding, AlreadyDecided> {
    use SecurityDecision::*;
    match decision {
        Verify if current.verification == Verification::Verified => {
            Err(AlreadyDecided("the contractor is already verified".into()))
        }
        Reject if current.verification == Verification::Rejected => {
            Err(AlreadyDecided("the contractor is already rejected".into()))
        }
        GrantAccess if !current.access_revoked => Err(AlreadyDecided(
            "the contractor's access is not revoked".into(),
        )),
        RevokeAccess if current.access_revoked => Err(AlreadyDecided(
            "the contractor's access is already revoked".into(),
        )),
        Verify => Ok(ContractorStanding {
            verification: Verification::Verified,
            ..current
        }),
        Reject => Ok(ContractorStanding {
            verification: Verification::Rejected,
            ..current
        }),
        GrantAccess => Ok(ContractorStanding {
            access_revoked: false,
            ..current
        }),
        RevokeAccess => Ok(ContractorStanding {
            access_revoked: true,
            ..current
        }),
    }
}

/// Whether a contractor in this standing may get offers.
pub fn may_get_offers(standing: ContractorStanding) -> bool {
    standing.verification == Verification::Verified && !standing.access_revoked
}

/// What the assignment rule needs to know about the user an assignment names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignee {
    pub role: Role,
    pub standing: ContractorStanding,
    pub active: bool,
    pub regions: Vec<String>,
}

/// Why a user may not hold a contractor assignment. Its `Display` is the English sentence that
/// events and the request's history carry; [`AssignmentRefusal::code`] names the kind, stably,
/// for whoever words it in another language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentRefusal {
    /// No user has the id.
    UnknownUser,
    /// The user has another role.
    NotAContractor(Role),
    AccountDisabled,
    VerificationPending,
    VerificationRejected,
    AccessRevoked,
    /// The contractor does not serve the request's region (named).
    OutsideRegion(String),
}

/// The kind of an [`AssignmentRefusal`], without its details: `security.access_revoked`'s
/// `reason_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalCode {
    UnknownUser,
    NotAContractor,
    AccountDisabled,
    VerificationPending,
    VerificationRejected,
    AccessRevoked,
    OutsideRegion,
}

impl RefusalCode {
    pub const ALL: [RefusalCode; 7] = [
        RefusalCode::UnknownUser,
        RefusalCode::NotAContractor,
        RefusalCode::AccountDisabled,
        RefusalCode::VerificationPending,
        RefusalCode::VerificationRejected,
        RefusalCode::AccessRevoked,
        RefusalCode::OutsideRegion,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RefusalCode::UnknownUser => "unknown_user",
            RefusalCode::NotAContractor => "not_a_contractor",
            RefusalCode::AccountDisabled => "account_disabled",
            RefusalCode::VerificationPending => "verification_pending",
            RefusalCode::VerificationRejected => "verification_rejected",
            RefusalCode::AccessRevoked => "access_revoked",
            RefusalCode::OutsideRegion => "outside_region",
        }
    }

    pub fn parse(raw: &str) -> Option<RefusalCode> {
        RefusalCode::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

impl AssignmentRefusal {
    pub fn code(&self) -> RefusalCode {
        match self {
            AssignmentRefusal::UnknownUser => RefusalCode::UnknownUser,
            AssignmentRefusal::NotAContractor(_) => RefusalCode::NotAContractor,
            AssignmentRefusal::AccountDisabled => RefusalCode::AccountDisabled,
            AssignmentRefusal::VerificationPending => RefusalCode::VerificationPending,
            AssignmentRefusal::VerificationRejected => RefusalCode::VerificationRejected,
            AssignmentRefusal::AccessRevoked => RefusalCode::AccessRevoked,
            AssignmentRefusal::OutsideRegion(_) => RefusalCode::OutsideRegion,
        }
    }
}

impl fmt::Display for AssignmentRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssignmentRefusal::UnknownUser => f.write_str("the contractor does not exist"),
            AssignmentRefusal::NotAContractor(role) => {
                write!(f, "the assignee is a {role}, not a contractor")
            }
            AssignmentRefusal::AccountDisabled => {
                f.write_str("the contractor's account is disabled")
            }
            AssignmentRefusal::VerificationPending => {
                f.write_str("the contractor is not verified (pending)")
            }
            AssignmentRefusal::VerificationRejected => {
                f.write_str("the contractor is not verified (rejected)")
            }
            AssignmentRefusal::AccessRevoked => f.write_str("the contractor's access is revoked"),
            AssignmentRefusal::OutsideRegion(region) => {
                write!(f, "the contractor does not serve region {region:?}")
            }
        }
    }
}

/// Why `assignee` (`None`: no such user) may not hold an assignment in `region`, or `None` when
/// they may: an active contractor, verified, with access, serving the region.
pub fn assignment_refusal(assignee: Option<&Assignee>, region: &str) -> Option<AssignmentRefusal> {
    let Some(assignee) = assignee else {
        return Some(AssignmentRefusal::UnknownUser);
    };
    if assignee.role != Role::Contractor {
        Some(AssignmentRefusal::NotAContractor(assignee.role))
    } else if !assignee.active {
        Some(AssignmentRefusal::AccountDisabled)
    } else if assignee.standing.verification == Verification::Pending {
        Some(AssignmentRefusal::VerificationPending)
    } else if assignee.standing.verification == Verification::Rejected {
        Some(AssignmentRefusal::VerificationRejected)
    } else if assignee.standing.access_revoked {
        Some(AssignmentRefusal::AccessRevoked)
    } else if !assignee.regions.iter().any(|r| r == region) {
        Some(AssignmentRefusal::OutsideRegion(region.to_owned()))
    } else {
        None
    }
}

/// `{"reason": "..."}`: required for reject and revoke, optional otherwise; an absent or empty
/// body is no reason.
pub fn parse_reason(
    body: Option<&Value>,
    required: bool,
) -> Result<Option<String>, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let Some(body) = body else {
        if required {
            errors.add("reason", "required", "reason is required");
            return Err(errors);
        }
        return Ok(None);
    };
    let mut reader = ObjectReader::body(body)?;
    let reason = if required {
        reader.required_str("reason", &mut errors)
    } else {
        reader.optional_str("reason", &mut errors)
    }
    .and_then(|v| text(v, "reason", 1, 1000, true, &mut errors));
    reader.reject_unknown(&mut errors);
    errors.finish(|| reason)
}

// The bodies as the OpenAPI document shows them, beside their parsers; the tests hold each parser
// to its type (`check_parser_against_schema`).

/// `POST /contractors/{id}/reject` and `/access/revoke` (required), `/access/grant` (optional).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    #[schemars(length(min = 1, max = 1000), regex(pattern = MULTI_LINE))]
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use SecurityDecision::*;
    use serde_json::json;

    #[test]
    fn the_reason_parser_follows_its_documented_body() {
        use crate::validation::check_parser_against_schema;
        check_parser_against_schema::<ReasonBody>(|body| parse_reason(Some(body), true).map(drop))
            .unwrap();
    }

    fn standing(verification: Verification, access_revoked: bool) -> ContractorStanding {
        ContractorStanding {
            verification,
            access_revoked,
        }
    }

    #[test]
    fn each_decision_changes_one_thing_and_repeating_it_is_a_conflict() {
        let pending = standing(Verification::Pending, false);
        let verified = decide_standing(pending, Verify).unwrap();
        assert_eq!(verified, standing(Verification::Verified, false));
        assert!(may_get_offers(verified));
        assert!(decide_standing(verified, Verify).is_err());
        let revoked = decide_standing(verified, RevokeAccess).unwrap();
        assert!(!may_get_offers(revoked));
        assert!(decide_standing(revoked, RevokeAccess).is_err());
        assert_eq!(decide_standing(revoked, GrantAccess).unwrap(), verified);
        assert!(decide_standing(verified, GrantAccess).is_err());
        let rejected = decide_standing(verified, Reject).unwrap();
        assert!(!may_get_offers(rejected));
        assert!(decide_standing(rejected, Reject).is_err());
        assert!(may_get_offers(decide_standing(rejected, Verify).unwrap()));
    }

    #[test]
    fn an_assignment_needs_an_active_verified_contractor_with_access_in_the_region() {
        let ok = Assignee {
            role: Role::Contractor,
            standing: standing(Verification::Verified, false),
            active: true,
            regions: vec!["Москва".to_owned()],
        };
        assert_eq!(assignment_refusal(Some(&ok), "Москва"), None);
        let with = |change: fn(&mut Assignee)| {
            let mut assignee = ok.clone();
            change(&mut assignee);
            assignee
        };
        for (assignee, region, refusal, text) in [
            (
                None,
                "Москва",
                AssignmentRefusal::UnknownUser,
                "the contractor does not exist",
            ),
            (
                Some(with(|a| a.role = Role::Manager)),
                "Москва",
                AssignmentRefusal::NotAContractor(Role::Manager),
                "the assignee is a manager, not a contractor",
            ),
            (
                Some(with(|a| a.active = false)),
                "Москва",
                AssignmentRefusal::AccountDisabled,
                "the contractor's account is disabled",
            ),
            (
                Some(with(|a| a.standing.verification = Verification::Pending)),
                "Москва",
                AssignmentRefusal::VerificationPending,
                "the contractor is not verified (pending)",
            ),
            (
                Some(with(|a| a.standing.verification = Verification::Rejected)),
                "Москва",
                AssignmentRefusal::VerificationRejected,
                "the contractor is not verified (rejected)",
            ),
            (
                Some(with(|a| a.standing.access_revoked = true)),
                "Москва",
                AssignmentRefusal::AccessRevoked,
                "the contractor's access is revoked",
            ),
            (
                Some(ok.clone()),
                "Казань",
                AssignmentRefusal::OutsideRegion("Казань".into()),
                "the contractor does not serve region \"Казань\"",
            ),
        ] {
            let got = assignment_refusal(assignee.as_ref(), region);
            assert_eq!(got.as_ref(), Some(&refusal));
            // The English text events carried before the codes: unchanged.
            assert_eq!(refusal.to_string(), text);
        }
        // A disabled account is named before its standing.
        let disabled_and_rejected = with(|a| {
            a.active = false;
            a.standing.verification = Verification::Rejected;
        });
        assert_eq!(
            assignment_refusal(Some(&disabled_and_rejected), "Москва"),
            Some(AssignmentRefusal::AccountDisabled)
        );
    }

    #[test]
    fn whoever_may_not_get_offers_may_not_hold_an_assignment_either() {
        // A decision that ends a contractor's offers (may_get_offers) is one the assignment
        // rule refuses, so an offer left from before it cannot be accepted.
        for verification in Verification::ALL {
            for access_revoked in [false, true] {
                let standing = standing(verification, access_revoked);
                let assignee = Assignee {
                    role: Role::Contractor,
                    standing,
                    active: true,
                    regions: vec!["Москва".to_owned()],
                };
                assert_eq!(
                    may_get_offers(standing),
                    assignment_refusal(Some(&assignee), "Москва").is_none(),
                    "{standing:?}"
                );
            }
        }
    }

    #[test]
    fn refusal_codes_are_distinct_and_parse_back() {
        let codes: std::collections::HashSet<_> =
            RefusalCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes.len(), RefusalCode::ALL.len());
        for code in RefusalCode::ALL {
            assert_eq!(RefusalCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(RefusalCode::parse("поддельные документы"), None);
        assert_eq!(
            AssignmentRefusal::VerificationRejected.code().as_str(),
            "verification_rejected"
        );
        assert_eq!(
            AssignmentRefusal::OutsideRegion("Казань".into()).code(),
            RefusalCode::OutsideRegion
        );
    }

    #[test]
    fn reasons_are_required_where_they_must_be() {
        assert_eq!(parse_reason(None, false).unwrap(), None);
        assert_eq!(parse_reason(None, true).unwrap_err().0[0].code, "required");
        assert_eq!(
            parse_reason(Some(&json!({"reason": " документы поддельные "})), true).unwrap(),
            Some("документы поддельные".into())
        );
        let errors = parse_reason(Some(&json!({"why": "x"})), true).unwrap_err();
        let codes: Vec<_> = errors.0.iter().map(|e| e.code).collect();
        assert_eq!(codes, ["required", "unknown_field"]);
    }
}
