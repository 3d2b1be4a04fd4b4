//! Who may see a service request. A request someone may not see is reported as not found, so that
//! its existence does not leak.

use servicehub_events::values::Role;
use uuid::Uuid;

/// The facts about a request that decide who sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestParties<'a> {
    pub customer_id: Uuid,
    pub region: &'a str,
    pub manager_id: Option<Uuid>,
    pub contractor_id: Option<Uuid>,
}

/// Customers see their own requests; managers those of their regions or assigned to them;
/// contractors those assigned or `offered` to them; security and admins all.
pub fn can_view(
    user_id: Uuid,
    role: Role,
    regions: &[String],
    request: &RequestParties<'_>,
    offered: bool,
) -> bool {
    match role {
        Role::Customer => request.customer_id == user_id,
        Role::Manager => {
            request.manager_id == Some(user_id) || regions.iter().any(|r| r == request.region)
        }
        Role::Contractor => request.contractor_id == Some(user_id) || offered,
        Role::Security | Role::Admin => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_sees_what_it_should() {
        let (customer, manager, contractor, stranger) = (
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            Uuid::from_u128(3),
            Uuid::from_u128(4),
        );
        let request = RequestParties {
            customer_id: customer,
            region: "Москва",
            manager_id: Some(manager),
            contractor_id: Some(contractor),
        };
        let moscow = vec!["Москва".to_owned()];
        assert!(can_view(customer, Role::Customer, &[], &request, false));
        assert!(!can_view(stranger, Role::Customer, &[], &request, false));
        assert!(can_view(manager, Role::Manager, &[], &request, false));
        assert!(can_view(stranger, Role::Manager, &moscow, &request, false));
        assert!(!can_view(
            stranger,
            Role::Manager,
            &["Казань".to_owned()],
            &request,
            false
        ));
        assert!(can_view(contractor, Role::Contractor, &[], &request, false));
        assert!(!can_view(
            stranger,
            Role::Contractor,
            &moscow,
            &request,
            false
        ));
        assert!(can_view(stranger, Role::Contractor, &[], &request, true));
        assert!(can_view(stranger, Role::Security, &[], &request, false));
        assert!(can_view(stranger, Role::Admin, &[], &request, false));
    }
}
