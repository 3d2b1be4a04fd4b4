//! What security officers decide about contractors: verification (pending -> verified or
//! rejected) and access (granted unless revoked). Only verified contractors whose access is not
//! revoked get offers.

use crate::validation::{ObjectReader, ValidationErrors, text};
use serde_json::Value;
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

/// Why a contractor may not hold an assignment in `region`, or `None` when they may.
pub fn assignment_refusal(
    standing: ContractorStanding,
    active: bool,
    contractor_regions: &[String],
    region: &str,
) -> Option<String> {
    if !active {
        Some("the contractor's account is disabled".into())
    } else if standing.verification != Verification::Verified {
        Some(format!(
            "the contractor is not verified ({})",
            standing.verification
        ))
    } else if standing.access_revoked {
        Some("the contractor's access is revoked".into())
    } else if !contractor_regions.iter().any(|r| r == region) {
        Some(format!("the contractor does not serve region {region:?}"))
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
    let Some(object) = body.as_object() else {
        errors.add("", "invalid_type", "the body must be a JSON object");
        return Err(errors);
    };
    let mut reader = ObjectReader::new(object, "");
    let reason = if required {
        reader.required_str("reason", &mut errors)
    } else {
        reader.optional_str("reason", &mut errors)
    }
    .and_then(|v| text(v, "reason", 1, 1000, true, &mut errors));
    reader.reject_unknown(&mut errors);
    errors.finish(|| reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SecurityDecision::*;
    use serde_json::json;

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
        let moscow = vec!["Москва".to_owned()];
        let ok = standing(Verification::Verified, false);
        assert_eq!(assignment_refusal(ok, true, &moscow, "Москва"), None);
        for (standing, active, region, why) in [
            (ok, false, "Москва", "disabled"),
            (
                standing(Verification::Pending, false),
                true,
                "Москва",
                "not verified (pending)",
            ),
            (
                standing(Verification::Verified, true),
                true,
                "Москва",
                "revoked",
            ),
            (ok, true, "Казань", "does not serve region"),
        ] {
            let refusal = assignment_refusal(standing, active, &moscow, region).unwrap();
            assert!(refusal.contains(why), "{refusal}");
        }
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
