//! The OpenAPI 3.1 document of servicehub's HTTP API, generated from code: the route table below
//! (one function per route, who may call it) and the JSON Schemas of the Rust types the
//! functions answer with (`schemars`). Request bodies are parsed by hand into domain types (so
//! that every field error is reported at once); their documented shape is the `*Body` type
//! beside each parser (`servicehub_domain::{request, commands, contractors}`,
//! `servicehub_auth::input::bodies`), held to its parser by that crate's tests and to the sample
//! payloads under `events/` by this one's.
//!
//! The committed copy is `openapi.json` at the repository root; a test fails when it drifts
//! (`SERVICEHUB_BLESS_OPENAPI=1 cargo test -p servicehub-openapi` rewrites it), and another
//! when the routes differ from template.yaml's.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token (the route has `Auth: {Authorizer: NONE}` in the template).
    Public,
    /// Any valid token.
    AnyUser,
    /// A valid token of one of these roles (ownership rules are in the description).
    Roles(&'static [&'static str]),
}

/// What a query parameter accepts, as its schema says.
#[derive(Debug, Clone, Copy)]
pub enum Query {
    /// Text of 1 to 100 characters once trimmed, no NUL.
    Text,
    /// An event type of the catalog.
    EventType,
    Uuid,
    /// An RFC 3339 time.
    Time,
    /// An integer in `min..=max`.
    Limit(u32, u32),
    /// One of these values.
    OneOf(&'static [&'static str]),
    /// One or more of these values, comma-separated.
    ListOf(&'static [&'static str]),
    /// A `next_cursor` this API returned.
    Cursor,
}

impl Query {
    fn schema(self) -> Value {
        match self {
            Query::Text => json!({
                "type": "string",
                "pattern": r"^\s*(?:[^\s\x00]|[^\s\x00][^\x00]{0,98}[^\s\x00])\s*$"
            }),
            Query::EventType => json!({
                "type": "string",
                "enum": servicehub_events::catalog::CATALOG
                    .iter()
                    .map(|event| event.event_type)
                    .collect::<Vec<_>>()
            }),
            Query::Uuid => json!({"type": "string", "format": "uuid"}),
            Query::Time => json!({"type": "string", "format": "date-time"}),
            Query::Limit(min, max) => json!({"type": "integer", "minimum": min, "maximum": max}),
            Query::OneOf(values) => json!({"type": "string", "enum": values}),
            // As the API reads a list: split at commas, each part trimmed, empty parts ignored.
            Query::ListOf(values) => {
                let part = format!(r"\s*(?:(?:{})\s*)?", values.join("|"));
                json!({"type": "string", "pattern": format!("^{part}(?:,{part})*$")})
            }
            Query::Cursor => json!({
                "type": "string",
                "pattern": servicehub_domain::listing::KEYSET_CURSOR_PATTERN
            }),
        }
    }
}

const REQUEST_STATUSES: &[&str] = &[
    "new",
    "manager_assigned",
    "clarification_needed",
    "sent_to_contractors",
    "contractor_assigned",
    "in_progress",
    "completed",
    "cancelled",
];

/// Generates the schema of one body type (a `$ref` into the components).
type BodySchema = fn(&mut SchemaGenerator) -> Schema;

/// One route: its operation, its function, its body and answers.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// The function (crate and binary) that serves it.
    pub function: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    pub access: Access,
    request: Option<BodySchema>,
    /// The success status and the schema of its body (`None`: no body).
    success: (u16, Option<BodySchema>),
    /// Error statuses besides the ones every route may answer.
    errors: &'static [u16],
    query: &'static [(&'static str, &'static str, Query)],
}

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

const CUSTOMER: &[&str] = &["customer"];
const MANAGER: &[&str] = &["manager"];
const CONTRACTOR: &[&str] = &["contractor"];
const ADMIN: &[&str] = &["admin"];
const SECURITY: &[&str] = &["security"];
const CUSTOMER_OR_CONTRACTOR: &[&str] = &["customer", "contractor"];
const SECURITY_OR_ADMIN: &[&str] = &["security", "admin"];
const CUSTOMER_OR_MANAGER: &[&str] = &["customer", "manager"];
const STEP_ERRORS: &[u16] = &[403, 404, 409, 422];

/// Every route of the API, in the order of the document.
pub fn routes() -> Vec<Route> {
    use servicehub_audit::analytics::RequestAnalytics;
    use servicehub_audit::query::AuditPage;
    use servicehub_auth::input::bodies::*;
    use servicehub_auth::session::TokenResponse;
    use servicehub_auth::view::{ContactCodeView, NotificationSettingsView, UserView};
    use servicehub_contractors::view::{ContractorList, ContractorView as Contractor};
    use servicehub_domain::commands::{
        AssignBody, CancelBody, ClarificationBody, CompletionBody, RequestPatchBody,
    };
    use servicehub_domain::contractors::ReasonBody;
    use servicehub_domain::request::NewRequestBody;
    use servicehub_hr::api::{DocumentList, PaymentList};
    use servicehub_hr::store::DocumentView;
    use servicehub_requests::history::RequestHistory;
    use servicehub_requests::list::RequestPage;
    use servicehub_requests::view::ServiceRequestView as Request;
    vec![
        Route {
            method: "POST",
            path: "/auth/register",
            function: "auth-register",
            summary: "Register as a customer or a contractor",
            description: "Contractors give the regions and categories they serve; they start unverified.",
            access: Access::Public,
            request: Some(schema::<RegisterBody>),
            success: (201, Some(schema::<UserView>)),
            errors: &[409, 422],
            query: &[],
        },
        Route {
            method: "POST",
            path: "/auth/login",
            function: "auth-login",
            summary: "Log in: a short-lived access JWT and a refresh token",
            description: "Failed logins are counted per e-mail: too many within the window lock it (429 with Retry-After).",
            access: Access::Public,
            request: Some(schema::<LoginBody>),
            success: (200, Some(schema::<TokenResponse>)),
            errors: &[401, 422, 429],
            query: &[],
        },
        Route {
            method: "POST",
            path: "/auth/refresh",
            function: "auth-refresh",
            summary: "Rotate the refresh token",
            description: "Presenting a refresh token that was already rotated revokes its whole family.",
            access: Access::Public,
            request: Some(schema::<RefreshBody>),
            success: (200, Some(schema::<TokenResponse>)),
            errors: &[401, 422],
            query: &[],
        },
        Route {
            method: "POST",
            path: "/auth/logout",
            function: "auth-logout",
            summary: "End one session, or all of the caller's",
            description: "",
            access: Access::AnyUser,
            request: Some(schema::<LogoutBody>),
            success: (204, None),
            errors: &[422],
            query: &[],
        },
        Route {
            method: "GET",
            path: "/me",
            function: "get-me",
            summary: "The caller's account",
            description: "",
            access: Access::AnyUser,
            request: None,
            success: (200, Some(schema::<UserView>)),
            errors: &[404],
            query: &[],
        },
        Route {
            method: "POST",
            path: "/users",
            function: "create-user",
            summary: "Create a manager (with regions), a security officer or an admin",
            description: "",
            access: Access::Roles(ADMIN),
            request: Some(schema::<CreateUserBody>),
            success: (201, Some(schema::<UserView>)),
            errors: &[403, 409, 422],
            query: &[],
        },
        Route {
            method: "PATCH",
            path: "/users/{id}",
            function: "update-user",
            summary: "Disable or enable an account",
            description: "A disabled account cannot log in or refresh, its sessions are revoked at once, and the authorizer refuses its access tokens within AuthorizerCacheSeconds (300 s by default). An admin cannot disable their own account (409).",
            access: Access::Roles(ADMIN),
            request: Some(schema::<UpdateUserBody>),
            success: (200, Some(schema::<UserView>)),
            errors: &[403, 404, 409, 422],
            query: &[],
        },
        Route {
            method: "POST",
            path: "/me/contact-codes",
            function: "send-contact-code",
            summary: "Send a new code to one of the caller's contacts",
            description: "A contact the account holder gave themselves (at registration) is sent nothing but a code until the code is typed back (POST /me/contact-verifications); one code is sent at registration. A new one may be asked a minute after the last, and one address gets at most 5 codes an hour and 10 a day across all accounts (429 with Retry-After). 409 once the contact is verified, or when the account has no such contact.",
            access: Access::AnyUser,
            request: Some(schema::<ContactCodeBody>),
            success: (202, Some(schema::<ContactCodeView>)),
            errors: &[409, 422, 429],
            query: &[],
        },
        Route {
            method: "POST",
            path: "/me/contact-verifications",
            function: "verify-contact",
            summary: "Prove a contact with the code sent to it",
            description: "A code lives 15 minutes and takes 5 wrong tries (422 for each, with the tries left; 429 after the fifth: ask for a new code). On success the channel is among the account's verified_channels, and notify sends it messages. 409 when the contact is verified already, or the account has none there.",
            access: Access::AnyUser,
            request: Some(schema::<ContactVerificationBody>),
            success: (200, Some(schema::<UserView>)),
            errors: &[409, 422, 429],
            query: &[],
        },
        Route {
            method: "GET",
            path: "/me/notification-settings",
            function: "get-notification-settings",
            summary: "The caller's channels, language, quiet hours and contacts",
            description: "Only proved contacts (verified: true) are written to; the others get a code and nothing else.",
            access: Access::AnyUser,
            request: None,
            success: (200, Some(schema::<NotificationSettingsView>)),
            errors: &[],
            query: &[],
        },
        Route {
            method: "PATCH",
            path: "/me/notification-settings",
            function: "update-notification-settings",
            summary: "Change the caller's channels, language, quiet hours, phone or Telegram chat",
            description: "Only what the body names changes; null clears the quiet hours, the phone or the chat. During quiet hours (local times in an IANA time zone) notify holds back every message but verification codes until the window ends. A new phone or chat is sent a code (POST /me/contact-verifications proves it) and nothing else until proved. 422 when a chosen channel would have no contact: SMS without a phone, Telegram without a chat.",
            access: Access::AnyUser,
            request: Some(schema::<NotificationSettingsBody>),
            success: (200, Some(schema::<NotificationSettingsView>)),
            errors: &[],
            query: &[],
        },
        Route {
            method: "POST",
            path: "/requests",
            function: "create-request",
            summary: "File a service request",
            description: "The request starts `new`; a manager of its region is assigned from the request.created event.",
            access: Access::Roles(CUSTOMER),
            request: Some(schema::<NewRequestBody>),
            success: (201, Some(schema::<Request>)),
            errors: &[403, 422],
            query: &[],
        },
        Route {
            method: "GET",
            path: "/requests",
            function: "list-requests",
            summary: "The requests the caller may see, newest first, a page at a time",
            description: "A customer sees their own, a manager their regions' and those assigned to them, a contractor those offered or assigned to them, security and admins all.",
            access: Access::AnyUser,
            request: None,
            success: (200, Some(schema::<RequestPage>)),
            errors: &[422],
            query: &[
                (
                    "status",
                    "statuses, comma-separated (or the parameter repeated)",
                    Query::ListOf(REQUEST_STATUSES),
                ),
                ("region", "exact region", Query::Text),
                (
                    "urgency",
                    "low, normal, high or urgent",
                    Query::OneOf(&["low", "normal", "high", "urgent"]),
                ),
                ("created_from", "RFC 3339 time, inclusive", Query::Time),
                ("created_to", "RFC 3339 time, exclusive", Query::Time),
                ("limit", "1 to 100, default 20", Query::Limit(1, 100)),
                ("cursor", "next_cursor of the previous page", Query::Cursor),
            ],
        },
        Route {
            method: "GET",
            path: "/requests/{id}",
            function: "get-request",
            summary: "One service request",
            description: "404 when it does not exist or the caller may not see it (existence does not leak).",
            access: Access::AnyUser,
            request: None,
            success: (200, Some(schema::<Request>)),
            errors: &[404],
            query: &[],
        },
        Route {
            method: "PATCH",
            path: "/requests/{id}",
            function: "update-request",
            summary: "Edit a request, or answer the manager's clarification question",
            description: "Its customer, while the request is new or clarification_needed; answering sends it back to manager_assigned.",
            access: Access::Roles(CUSTOMER),
            request: Some(schema::<RequestPatchBody>),
            success: (200, Some(schema::<Request>)),
            errors: STEP_ERRORS,
            query: &[],
        },
        Route {
            method: "POST",
            path: "/requests/{id}/cancel",
            function: "cancel-request",
            summary: "Cancel a request before it is completed",
            description: "Its customer or its manager.",
            access: Access::Roles(CUSTOMER_OR_MANAGER),
            request: Some(schema::<CancelBody>),
            success: (200, Some(schema::<Request>)),
            errors: STEP_ERRORS,
            query: &[],
        },
        Route {
            method: "POST",
            path: "/requests/{id}/clarification",
            function: "ask-clarification",
            summary: "Ask the customer a question",
            description: "A manager of the request; it becomes clarification_needed.",
            access: Access::Roles(MANAGER),
            request: Some(schema::<ClarificationBody>),
            success: (200, Some(schema::<Request>)),
            errors: STEP_ERRORS,
            query: &[],
        },
        Route {
            method: "POST",
            path: "/requests/{id}/dispatch",
            function: "dispatch-request",
            summary: "Offer the request to every eligible contractor",
            description: "Verified contractors whose access is not revoked and who serve its region and category; 409 when there is none.",
            access: Access::Roles(MANAGER),
            request: None,
            success: (200, Some(schema::<Request>)),
            errors: &[403, 404, 409],
            query: &[],
        },
        Route {
            method: "POST",
            path: "/requests/{id}/accept",
            function: "accept-request",
            summary: "Take an offered request",
            description: "A contractor it was offered to; the first one wins, the others get 409. 409 too when the contractor may no longer take it (not verified, access revoked, region no longer theirs); the detail says why.",
            access: Access::Roles(CONTRACTOR),
            request: None,
            success: (200, Some(schema::<Request>)),
            errors: &[403, 404, 409],
            query: &[],
        },
        Route {
            method: "POST",
            path: "/requests/{id}/assign",
            function: "assign-contractor",
            summary: "Assign one of the offered contractors",
            description: "A manager of the request; 409 when the contractor may no longer take it (not verified, access revoked, region no longer theirs), with the reason.",
            access: Access::Roles(MANAGER),
            request: Some(schema::<AssignBody>),
            success: (200, Some(schema::<Request>)),
            errors: STEP_ERRORS,
            query: &[],
        },
        Route {
            method: "POST",
            path: "/requests/{id}/start",
            function: "start-work",
            summary: "Start the work",
            description: "The assigned contractor.",
            access: Access::Roles(CONTRACTOR),
            request: None,
            success: (200, Some(schema::<Request>)),
            errors: &[403, 404, 409],
            query: &[],
        },
        Route {
            method: "POST",
            path: "/requests/{id}/complete",
            function: "complete-work",
            summary: "Complete the work with a report and the final price",
            description: "The assigned contractor.",
            access: Access::Roles(CONTRACTOR),
            request: Some(schema::<CompletionBody>),
            success: (200, Some(schema::<Request>)),
            errors: STEP_ERRORS,
            query: &[],
        },
        Route {
            method: "GET",
            path: "/requests/{id}/history",
            function: "get-request-history",
            summary: "Every status change of a request with actor, time and reason",
            description: "Whoever may see the request.",
            access: Access::AnyUser,
            request: None,
            success: (200, Some(schema::<RequestHistory>)),
            errors: &[404],
            query: &[],
        },
        Route {
            method: "POST",
            path: "/contractors/{id}/verify",
            function: "verify-contractor",
            summary: "Verify a contractor",
            description: "Pending or rejected contractors become verified; 409 when already verified.",
            access: Access::Roles(SECURITY),
            request: None,
            success: (200, Some(schema::<Contractor>)),
            errors: &[403, 404, 409],
            query: &[],
        },
        Route {
            method: "POST",
            path: "/contractors/{id}/reject",
            function: "reject-contractor",
            summary: "Reject a contractor, with a reason",
            description: "Withdraws the contractor's open offers in the same transaction; 409 when already rejected.",
            access: Access::Roles(SECURITY),
            request: Some(schema::<ReasonBody>),
            success: (200, Some(schema::<Contractor>)),
            errors: &[403, 404, 409, 422],
            query: &[],
        },
        Route {
            method: "POST",
            path: "/contractors/{id}/access/grant",
            function: "grant-contractor-access",
            summary: "Restore a contractor's access",
            description: "The body (a reason) is optional; 409 when access is not revoked.",
            access: Access::Roles(SECURITY),
            request: None,
            success: (200, Some(schema::<Contractor>)),
            errors: &[403, 404, 409, 422],
            query: &[],
        },
        Route {
            method: "POST",
            path: "/contractors/{id}/access/revoke",
            function: "revoke-contractor-access",
            summary: "Revoke a contractor's access, with a reason",
            description: "A revoked contractor gets no offers, and their open offers are withdrawn; 409 when already revoked.",
            access: Access::Roles(SECURITY),
            request: Some(schema::<ReasonBody>),
            success: (200, Some(schema::<Contractor>)),
            errors: &[403, 404, 409, 422],
            query: &[],
        },
        Route {
            method: "GET",
            path: "/contractors",
            function: "list-contractors",
            summary: "Contractors, optionally of one verification status",
            description: "",
            access: Access::Roles(SECURITY_OR_ADMIN),
            request: None,
            success: (200, Some(schema::<ContractorList>)),
            errors: &[403, 422],
            query: &[(
                "status",
                "pending, verified or rejected",
                Query::OneOf(&["pending", "verified", "rejected"]),
            )],
        },
        Route {
            method: "GET",
            path: "/analytics/requests",
            function: "get-analytics",
            summary: "The business at a glance: the requests created in a period",
            description: "Counted by the status they are in now, region, category and UTC day; the median and 90th percentile seconds from creation to manager assignment, to contractor assignment and to completion; the cancellation rate; the notifications about them sent and failed per channel. Computed by ClickHouse over the audit events (what audit-sink has stored). An admin sees every region (or the one named); a manager their own regions (403 for another one). The period defaults to the 30 days before now and covers at most 366 days. 503 when the store is unreachable.",
            access: Access::Roles(&["manager", "admin"]),
            request: None,
            success: (200, Some(schema::<RequestAnalytics>)),
            errors: &[403, 422, 503],
            query: &[
                (
                    "from",
                    "requests created at or after this time (default: 30 days before `to`)",
                    Query::Time,
                ),
                (
                    "to",
                    "requests created before this time (default: now)",
                    Query::Time,
                ),
                ("region", "one region (a manager's own)", Query::Text),
            ],
        },
        Route {
            method: "GET",
            path: "/audit",
            function: "get-audit",
            summary: "The audit log: every event the platform published, newest first",
            description: "Read from the ClickHouse audit store the audit-sink function fills from every topic. 503 when the store is unreachable.",
            access: Access::Roles(ADMIN),
            request: None,
            success: (200, Some(schema::<AuditPage>)),
            errors: &[403, 422, 503],
            query: &[
                ("actor", "events whose actor is this user id", Query::Uuid),
                (
                    "type",
                    "events of this type, e.g. request.created",
                    Query::EventType,
                ),
                (
                    "request_id",
                    "events concerning this service request",
                    Query::Uuid,
                ),
                ("from", "events at or after this RFC 3339 time", Query::Time),
                ("to", "events before this RFC 3339 time", Query::Time),
                (
                    "limit",
                    "page size, 1 to 500 (default 100)",
                    Query::Limit(1, 500),
                ),
                ("cursor", "next_cursor of the previous page", Query::Cursor),
            ],
        },
        Route {
            method: "GET",
            path: "/documents",
            function: "list-documents",
            summary: "HR documents the caller may see",
            description: "Parties see theirs, managers those of the requests they manage or of their regions, security and admins all.",
            access: Access::AnyUser,
            request: None,
            success: (200, Some(schema::<DocumentList>)),
            errors: &[422],
            query: &[
                ("request_id", "documents of this request", Query::Uuid),
                ("contractor_id", "documents of this contractor", Query::Uuid),
            ],
        },
        Route {
            method: "GET",
            path: "/documents/{id}",
            function: "get-document",
            summary: "One document, with a five-minute download link to its PDF",
            description: "",
            access: Access::AnyUser,
            request: None,
            success: (200, Some(schema::<DocumentView>)),
            errors: &[404],
            query: &[],
        },
        Route {
            method: "POST",
            path: "/documents/{id}/sign",
            function: "sign-document",
            summary: "Sign a document",
            description: "A contract is signed by its contractor, a completion act by its customer and contractor, a payment order by its customer; 409 for a second signature. Both signatures on an act trigger the payment.",
            access: Access::Roles(CUSTOMER_OR_CONTRACTOR),
            request: None,
            success: (200, Some(schema::<DocumentView>)),
            errors: &[403, 404, 409],
            query: &[],
        },
        Route {
            method: "GET",
            path: "/payments",
            function: "list-payments",
            summary: "Payments the caller may see",
            description: "A customer's and a contractor's own, a manager's requests', all for security and admins.",
            access: Access::AnyUser,
            request: None,
            success: (200, Some(schema::<PaymentList>)),
            errors: &[422],
            query: &[],
        },
    ]
}

/// Every POST but login and refresh, which never store the tokens they issue.
fn honours_idempotency_key(route: &Route) -> bool {
    route.method == "POST" && !matches!(route.function, "auth-login" | "auth-refresh")
}

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "The body is not JSON",
        401 => "No valid token",
        403 => "The caller's role or relation to the resource does not allow this",
        404 => "Not found, or not visible to the caller",
        409 => "The current state does not allow this (current_status says which)",
        415 => "The body is not application/json",
        422 => "Invalid input: errors[] names each field",
        429 => "Too many attempts: retry after Retry-After seconds",
        503 => "A backing service is unavailable: retry",
        _ => "",
    }
}

/// The whole document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "#/components/schemas/".into())
        .for_serialize()
        .into_generator();
    // Request bodies as they are read: optional fields may be left out.
    let mut requests = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "#/components/schemas/".into())
        .for_deserialize()
        .into_generator();
    let problem = generator.subschema_for::<servicehub_platform::http::Problem>();
    let gateway = generator.subschema_for::<GatewayMessage>();
    let mut paths: Map<String, Value> = Map::new();
    for route in routes() {
        let mut responses = Map::new();
        let (status, body) = route.success;
        let mut success = json!({"description": status_text(status)});
        if let Some(body) = body {
            success["content"] = json!({"application/json": {"schema": body(&mut generator)}});
        }
        responses.insert(status.to_string(), success);
        let mut errors: Vec<u16> = route.errors.to_vec();
        if route.request.is_some() {
            errors.extend([400, 415, 422]);
        }
        if route.access != Access::Public {
            errors.push(401);
        }
        if honours_idempotency_key(&route) {
            // Idempotency-Key: 409 for the same key on a different request or while the first
            // runs, 422 for a malformed key.
            errors.extend([409, 422]);
        }
        errors.push(503);
        errors.sort();
        errors.dedup();
        for status in errors {
            responses.insert(status.to_string(), problem_response(status_text(status)));
        }
        // What API Gateway answers itself, before or instead of the function.
        let mut gateway_answers = vec![
            (
                413,
                "The body is over 10 MB, or the request over Lambda's 6 MB",
            ),
            (
                500,
                "The function failed or was throttled (API Gateway's answer)",
            ),
            (
                503,
                "The function did not answer within the integration timeout",
            ),
        ];
        if route.access == Access::Public {
            // template.yaml throttles the public routes (PublicRouteRateLimit, PublicRouteBurstLimit).
            gateway_answers.push((429, "Throttled: retry later"));
        } else {
            gateway_answers.push((401, "No Authorization header"));
            gateway_answers.push((403, "The authorizer refused the token"));
        }
        for (status, description) in gateway_answers {
            let response = responses
                .entry(status.to_string())
                .or_insert_with(|| json!({"description": description, "content": {}}));
            response["content"]["application/json"] =
                json!({"schema": {"$ref": "#/components/schemas/GatewayMessage"}});
        }
        let mut parameters: Vec<Value> = Vec::new();
        if route.path.contains("{id}") {
            parameters.push(json!({
                "name": "id", "in": "path", "required": true,
                "schema": {"type": "string", "format": "uuid"}
            }));
        }
        for (name, description, query) in route.query {
            parameters.push(json!({
                "name": name, "in": "query", "required": false, "description": description,
                "schema": query.schema()
            }));
        }
        if honours_idempotency_key(&route) {
            parameters.push(json!({
                "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "A repeat with the same key replays the first response and changes nothing; the key on a different request is a 409.",
                "schema": {"type": "string", "pattern": r"^[\x21-\x7E]{1,255}$"}
            }));
        }
        let mut operation = json!({
            "operationId": route.function,
            "summary": route.summary,
            "responses": responses,
            "x-servicehub-function": route.function,
        });
        if !route.description.is_empty() {
            operation["description"] = json!(route.description);
        }
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        if let Some(body) = route.request {
            operation["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": body(&mut requests)}}
            });
        }
        match route.access {
            Access::Public => operation["security"] = json!([]),
            Access::AnyUser => operation["x-servicehub-roles"] = json!(["any"]),
            Access::Roles(roles) => operation["x-servicehub-roles"] = json!(roles),
        }
        paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("a path item is an object")
            .insert(route.method.to_ascii_lowercase(), operation);
    }
    let mut schemas = generator.take_definitions(true);
    for (name, schema) in requests.take_definitions(true) {
        match schemas.get(&name) {
            Some(existing) if *existing != schema => {
                panic!(
                    "{name} is read and written with different schemas: give one a name of its own"
                )
            }
            Some(_) => {}
            None => {
                schemas.insert(name, schema);
            }
        }
    }
    // The Problem schema is referenced from the responses by its plain name.
    for (schema, name) in [(&problem, "Problem"), (&gateway, "GatewayMessage")] {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str)
            && reference != format!("#/components/schemas/{name}")
        {
            panic!("unexpected {name} reference {reference}");
        }
    }
    schemas.sort_keys();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "servicehub",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The HTTP API of servicehub, a service marketplace: customers file service requests, managers dispatch them to verified contractors. Every route is its own AWS Lambda function behind API Gateway (HTTP API); x-servicehub-function names it and x-servicehub-roles says who may call it. Errors are RFC 7807 problem+json."
        },
        "servers": [{"url": "http://127.0.0.1:3000", "description": "tools/run-local"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
        }
    })
}

/// The document as committed: pretty JSON with a final newline.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).expect("the document serializes");
    text.push('\n');
    text
}

/// API Gateway's own answers (`application/json`): `{"message": "Unauthorized"}` without a
/// token, `Forbidden` when the authorizer refuses it, `Not Found` for no route, `Request Entity
/// Too Large` over 10 MB, `Too Many Requests` past a route's throttling, `Internal Server Error`
/// when the function fails or is throttled, `Service Unavailable` past the integration timeout.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct GatewayMessage {
    pub message: String,
}
