#!/usr/bin/env python3
"""Generate the sample trigger payloads under events/.

The Kafka samples carry base64 keys/values and headers as arrays of *signed* bytes (Java's
`byte`, as AWS sends them), which nobody should write by hand; the HTTP and schedule samples are
generated here too so that all of them share one set of ids, times and texts.

    python3 events/generate_samples.py           # (re)write the files
    python3 events/generate_samples.py --check   # exit 1 if a committed file is out of date

Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------- shared values
def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


ACCOUNT_ID = "123456789012"
REGION = "eu-central-1"
API_ID = "a1b2c3d4e5"
DOMAIN_NAME = f"{API_ID}.execute-api.{REGION}.amazonaws.com"

CUSTOMER_ID = "0190a5a4-7b1e-7cc0-8a2b-4c1d2e3f4a5b"
REQUEST_ID = "0190a5a4-7b1e-7cc0-8a2b-000000000001"
EVENT_ID = "0190a5a4-7b1e-7cc0-8a2b-0000000000e1"
CORRELATION_ID = "0190a5a4-7b1e-7cc0-8a2b-0000000000c1"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
# The span that produced the Kafka record, and the browser's span that called the API.
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
HTTP_TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"

CREATED_AT = datetime(2026, 11, 21, 10, 0, 0, tzinfo=timezone.utc)
# What a function checks against its own clock (a preferred time window must not be over, an access
# token must not have expired) lies far ahead, so the samples keep working for years; the test
# tests/tests/sample_times.rs fails two years before any of them runs out. Past facts (when an event
# happened, when API Gateway received a call) stay at CREATED_AT.
VALID_UNTIL = datetime(2046, 12, 1, 0, 0, 0, tzinfo=timezone.utc)
WINDOW_FROM = VALID_UNTIL.replace(hour=9)
WINDOW_TO = VALID_UNTIL.replace(hour=13)

# What the authorizer (a JWT Lambda authorizer, simple responses) hands to the handlers.
AUTHORIZER = {"lambda": {"sub": CUSTOMER_ID, "role": "customer", "region": "Москва"}}

REQUEST_BODY = {
    "title": "Не работает холодильник",
    "description": "Холодильник Bosch перестал морозить, горит индикатор ошибки",
    "category": "appliance-repair",
    "urgency": "high",
    "region": "Москва",
    "city": "Москва",
    "address": "ул. Ленина, 1",
    "preferred_time_window": {"from": iso(WINDOW_FROM), "to": iso(WINDOW_TO)},
    "budget": {"amount_minor": 500000, "currency": "RUB"},
}

MSK_CLUSTER_ARN = (
    f"arn:aws:kafka:{REGION}:{ACCOUNT_ID}:cluster/servicehub/abcd1234-ef56-7890-abcd-ef1234567890-2"
)
MSK_BOOTSTRAP_SERVERS = ",".join(
    f"b-{n}.servicehub.abcd12.c2.kafka.{REGION}.amazonaws.com:9092" for n in (1, 2)
)
# The local Kafka of the test harness (tools/local-lambda plays the event source mapping).
SELF_MANAGED_BOOTSTRAP_SERVERS = "127.0.0.1:59092"


# --------------------------------------------------------------------------- helpers
def epoch_ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def compact(value: object) -> str:
    """JSON as services put it on the wire: no spaces, UTF-8 text (not \\u escapes)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def signed_bytes(text: str) -> list[int]:
    """UTF-8 bytes of `text` as Java bytes (-128..127), the way Lambda encodes Kafka headers."""
    return [b - 256 if b > 127 else b for b in text.encode("utf-8")]


# --------------------------------------------------------------------------- API Gateway (HTTP API, payload 2.0)
def http_api_event(
    *,
    method: str,
    route_path: str,
    raw_path: str,
    request_id: str,
    at: datetime,
    body: object | None = None,
    path_parameters: dict[str, str] | None = None,
    authorizer: dict | None = AUTHORIZER,
) -> dict:
    """An HTTP API request; `authorizer=None` for public routes (no Lambda authorizer ran)."""
    user_agent = "Mozilla/5.0 (X11; Linux x86_64) servicehub-web/1.0"
    headers = {
        "accept": "application/json",
        "accept-encoding": "gzip, deflate, br",
        "host": DOMAIN_NAME,
        "traceparent": HTTP_TRACEPARENT,
        "user-agent": user_agent,
        # X-Ray's spelling of the same trace id: Root=1-<first 8 hex>-<remaining 24 hex>.
        "x-amzn-trace-id": f"Root=1-{TRACE_ID[:8]}-{TRACE_ID[8:]}",
        "x-forwarded-for": "203.0.113.10",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    body_text = None
    if body is not None:
        body_text = compact(body)
        headers["content-type"] = "application/json"
        headers["content-length"] = str(len(body_text.encode("utf-8")))
    event: dict = {
        "version": "2.0",
        "routeKey": f"{method} {route_path}",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": dict(sorted(headers.items())),
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": DOMAIN_NAME,
        "domainPrefix": API_ID,
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.10",
            "userAgent": user_agent,
        },
        "requestId": request_id,
        "routeKey": f"{method} {route_path}",
        "stage": "$default",
        "time": at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": epoch_ms(at),
    }
    if authorizer is not None:
        # Where API Gateway puts it (the key order of the generated files stays as before).
        event["requestContext"] = {
            "accountId": event["requestContext"]["accountId"],
            "apiId": event["requestContext"]["apiId"],
            "authorizer": authorizer,
            **{k: v for k, v in event["requestContext"].items() if k not in ("accountId", "apiId")},
        }
    if body_text is not None:
        event["body"] = body_text
    event["isBase64Encoded"] = False
    return event


def create_request() -> dict:
    return http_api_event(
        method="POST",
        route_path="/requests",
        raw_path="/requests",
        request_id="bT3xKgLmFiAEJkw=",
        at=CREATED_AT,
        body=REQUEST_BODY,
    )


def get_request() -> dict:
    return http_api_event(
        method="GET",
        route_path="/requests/{id}",
        raw_path=f"/requests/{REQUEST_ID}",
        request_id="bT3yVhPZliAEJ9Q=",
        at=CREATED_AT.replace(second=5),
        path_parameters={"id": REQUEST_ID},
    )


# --------------------------------------------------------------------------- auth (shared/auth)
ADMIN_ID = "0190a5a4-7b1e-7cc0-8a2b-0000000000ad"
CONTRACTOR_EMAIL = "master.ivan@example.ru"
SAMPLE_PASSWORD = "correct horse battery staple"
# An opaque refresh token as auth-login hands it out (256 random bits, base64url).
REFRESH_TOKEN = "q3P1n3X9vK0cQ5y2W8mZrT6bH4uJ7dLfA1sE0gYxN2o"
# What the JWT authorizer hands to the handlers (simple response context: sub, role, regions).
CUSTOMER_CLAIMS = {"lambda": {"sub": CUSTOMER_ID, "role": "customer", "regions": []}}
ADMIN_CLAIMS = {"lambda": {"sub": ADMIN_ID, "role": "admin", "regions": []}}
# Key of the sample access token only (not the local servicehub/jwt-signing-key: the authorizer
# answers {"isAuthorized": false} to it unless JWT_SECRET_NAME names a secret holding this key, as
# tests/tests/auth.rs does).
SAMPLE_JWT_KEY = b"sample-only HS256 key for events/authorizer.json, 32+ bytes"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sample_access_token() -> str:
    """An HS256 access token with the claims auth-login issues (stdlib hmac, no JWT library)."""
    import hashlib
    import hmac

    iat = int(CREATED_AT.timestamp())
    header = {"typ": "JWT", "alg": "HS256"}
    claims = {
        "sub": CUSTOMER_ID,
        "iss": "servicehub",
        "aud": "servicehub-api",
        "iat": iat,
        "nbf": iat,
        # A real access token lives 15 minutes; the sample's lives until VALID_UNTIL so that it
        # still passes the authorizer (given SAMPLE_JWT_KEY) whenever someone tries it.
        "exp": int(VALID_UNTIL.timestamp()),
        "jti": "0190a5a4-7b1e-7cc0-8a2b-0000000000a1",
        "role": "customer",
        "regions": [],
    }
    signing_input = f"{b64url(compact(header).encode())}.{b64url(compact(claims).encode())}"
    signature = hmac.new(SAMPLE_JWT_KEY, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def auth_register() -> dict:
    return http_api_event(
        method="POST",
        route_path="/auth/register",
        raw_path="/auth/register",
        request_id="bT4aQhLmFiAEJa1=",
        at=CREATED_AT.replace(minute=0, second=1),
        authorizer=None,
        body={
            "email": CONTRACTOR_EMAIL,
            "password": SAMPLE_PASSWORD,
            "display_name": "Мастер Иван",
            "phone": "+7 (916) 123-45-67",
            "role": "contractor",
            "regions": ["Москва", "Тверь"],
            "categories": ["appliance-repair", "plumbing"],
            "notifications": {"channels": ["telegram", "email"], "telegram_chat_id": 123456789, "language": "ru"},
        },
    )


def auth_login() -> dict:
    return http_api_event(
        method="POST",
        route_path="/auth/login",
        raw_path="/auth/login",
        request_id="bT4aRkPZliAEJa2=",
        at=CREATED_AT.replace(minute=0, second=2),
        authorizer=None,
        body={"email": CONTRACTOR_EMAIL, "password": SAMPLE_PASSWORD},
    )


def auth_refresh() -> dict:
    return http_api_event(
        method="POST",
        route_path="/auth/refresh",
        raw_path="/auth/refresh",
        request_id="bT4aSmLmFiAEJa3=",
        at=CREATED_AT.replace(minute=14, second=50),
        authorizer=None,
        body={"refresh_token": REFRESH_TOKEN},
    )


def auth_logout() -> dict:
    return http_api_event(
        method="POST",
        route_path="/auth/logout",
        raw_path="/auth/logout",
        request_id="bT4aTnPZliAEJa4=",
        at=CREATED_AT.replace(minute=30),
        authorizer=CUSTOMER_CLAIMS,
        body={"refresh_token": REFRESH_TOKEN},
    )


def get_me() -> dict:
    return http_api_event(
        method="GET",
        route_path="/me",
        raw_path="/me",
        request_id="bT4aUoLmFiAEJa5=",
        at=CREATED_AT.replace(second=3),
        authorizer=CUSTOMER_CLAIMS,
    )


def create_user() -> dict:
    return http_api_event(
        method="POST",
        route_path="/users",
        raw_path="/users",
        request_id="bT4aVpPZliAEJa6=",
        at=CREATED_AT.replace(second=4),
        authorizer=ADMIN_CLAIMS,
        body={
            "email": "petr.manager@servicehub.example",
            "password": SAMPLE_PASSWORD,
            "display_name": "Пётр Менеджер",
            "phone": "+7 495 123-45-67",
            "role": "manager",
            "regions": ["Москва"],
            "notifications": {"channels": ["email", "sms"], "language": "ru"},
        },
    )


def update_user() -> dict:
    return http_api_event(
        method="PATCH",
        route_path="/users/{id}",
        raw_path=f"/users/{CUSTOMER_ID}",
        request_id="bT4aVqQZliAEJa8=",
        at=CREATED_AT.replace(second=5),
        authorizer=ADMIN_CLAIMS,
        path_parameters={"id": CUSTOMER_ID},
        body={"active": False},
    )


def send_contact_code() -> dict:
    return http_api_event(
        method="POST",
        route_path="/me/contact-codes",
        raw_path="/me/contact-codes",
        request_id="bT4aXcCdLiAEJa1=",
        at=CREATED_AT.replace(second=6),
        authorizer=CUSTOMER_CLAIMS,
        body={"channel": "email"},
    )


def verify_contact() -> dict:
    return http_api_event(
        method="POST",
        route_path="/me/contact-verifications",
        raw_path="/me/contact-verifications",
        request_id="bT4aXvCdLiAEJa2=",
        at=CREATED_AT.replace(second=7),
        authorizer=CUSTOMER_CLAIMS,
        body={"channel": "email", "code": "123456"},
    )


def get_notification_settings() -> dict:
    return http_api_event(
        method="GET",
        route_path="/me/notification-settings",
        raw_path="/me/notification-settings",
        request_id="bT4aYgNsLiAEJa3=",
        at=CREATED_AT.replace(second=8),
        authorizer=CUSTOMER_CLAIMS,
    )


def update_notification_settings() -> dict:
    return http_api_event(
        method="PATCH",
        route_path="/me/notification-settings",
        raw_path="/me/notification-settings",
        request_id="bT4aYuNsLiAEJa4=",
        at=CREATED_AT.replace(second=9),
        authorizer=CUSTOMER_CLAIMS,
        body={
            "language": "en",
            "quiet_hours": {"from": "22:00", "to": "08:00", "time_zone": "Europe/Moscow"},
        },
    )


def authorizer() -> dict:
    """The Lambda REQUEST authorizer event (payload 2.0) for `GET /me` with a bearer token."""
    event = http_api_event(
        method="GET",
        route_path="/me",
        raw_path="/me",
        request_id="bT4aWqLmFiAEJa7=",
        at=CREATED_AT.replace(second=3),
        authorizer=None,
    )
    authorization = f"Bearer {sample_access_token()}"
    event["headers"] = dict(sorted({**event["headers"], "authorization": authorization}.items()))
    del event["isBase64Encoded"]
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/$default/GET/me",
        "identitySource": [authorization],
        **event,
    }


# --------------------------------------------------------------------------- Kafka (MSK / self-managed)
def request_created_envelope() -> dict:
    return {
        "specversion": "1.0",
        "id": EVENT_ID,
        "source": "create-request",
        "type": "request.created",
        "time": iso(CREATED_AT),
        "subject": REQUEST_ID,
        "dataschema": "urn:servicehub:schema:request.created:1",
        "datacontenttype": "application/json",
        "correlationid": CORRELATION_ID,
        "traceparent": TRACEPARENT,
        "data": {
            "request_id": REQUEST_ID,
            "customer_id": CUSTOMER_ID,
            **{k: REQUEST_BODY[k] for k in ("title", "description", "category", "urgency")},
            **{k: REQUEST_BODY[k] for k in ("region", "city", "address")},
            "preferred_time_window": REQUEST_BODY["preferred_time_window"],
            "budget": REQUEST_BODY["budget"],
            "created_at": iso(CREATED_AT),
        },
    }


def kafka_record() -> dict:
    envelope = request_created_envelope()
    return {
        "topic": "request-events",
        "partition": 0,
        "offset": 15,
        # Appended by the broker a few milliseconds after the outbox row committed.
        "timestamp": epoch_ms(CREATED_AT) + 37,
        "timestampType": "CREATE_TIME",
        "key": b64(REQUEST_ID.encode("utf-8")),
        "value": b64(compact(envelope).encode("utf-8")),
        "headers": [
            {"ce_type": signed_bytes(envelope["type"])},
            {"ce_id": signed_bytes(envelope["id"])},
            {"traceparent": signed_bytes(TRACEPARENT)},
        ],
    }


def kafka_event(*, self_managed: bool) -> dict:
    event: dict = {"eventSource": "SelfManagedKafka" if self_managed else "aws:kafka"}
    if not self_managed:
        event["eventSourceArn"] = MSK_CLUSTER_ARN
    event["bootstrapServers"] = (
        SELF_MANAGED_BOOTSTRAP_SERVERS if self_managed else MSK_BOOTSTRAP_SERVERS
    )
    event["records"] = {"request-events-0": [kafka_record()]}
    return event


# --------------------------------------------------------------------------- EventBridge schedule
def outbox_relay() -> dict:
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": iso(CREATED_AT.replace(minute=1)),
        "region": REGION,
        "resources": [
            f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/servicehub-dev-OutboxRelayFunctionEveryMinute-1XQ3L7Z9K2M4P"
        ],
        "detail": {},
    }


# ---- workflow steps on an existing request: who acts is in the authorizer context
MANAGER_ID = "0190a5a4-7b1e-7cc0-8a2b-0000000000a2"
CONTRACTOR_ID = "0190a5a4-7b1e-7cc0-8a2b-0000000000a3"
MANAGER = {"lambda": {"sub": MANAGER_ID, "role": "manager", "regions": ["Москва"]}}
CONTRACTOR = {"lambda": {"sub": CONTRACTOR_ID, "role": "contractor", "regions": ["Москва"]}}


def workflow_step(method: str, suffix: str, request_id: str, authorizer: dict, body: object | None = None,
                  minute: int = 5) -> dict:
    route = "/requests/{id}" + suffix
    return http_api_event(
        method=method,
        route_path=route,
        raw_path=f"/requests/{REQUEST_ID}{suffix}",
        request_id=request_id,
        at=CREATED_AT.replace(minute=minute),
        body=body,
        path_parameters={"id": REQUEST_ID},
        authorizer=authorizer,
    )


def list_requests() -> dict:
    event = http_api_event(
        method="GET",
        route_path="/requests",
        raw_path="/requests",
        request_id="bT4aLqMnFiAEKa0=",
        at=CREATED_AT.replace(minute=1),
        authorizer=MANAGER,
    )
    event["rawQueryString"] = "status=new,manager_assigned&limit=20"
    event["queryStringParameters"] = {"status": "new,manager_assigned", "limit": "20"}
    return event


SECURITY_OFFICER = {"lambda": {"sub": "0190a5a4-7b1e-7cc0-8a2b-0000000000a4", "role": "security", "regions": []}}


def contractor_decision(suffix: str, request_id: str, body: object | None, minute: int) -> dict:
    return http_api_event(
        method="POST",
        route_path="/contractors/{id}" + suffix,
        raw_path=f"/contractors/{CONTRACTOR_ID}{suffix}",
        request_id=request_id,
        at=CREATED_AT.replace(hour=9, minute=minute),
        body=body,
        path_parameters={"id": CONTRACTOR_ID},
        authorizer=SECURITY_OFFICER,
    )


def list_contractors() -> dict:
    event = http_api_event(
        method="GET",
        route_path="/contractors",
        raw_path="/contractors",
        request_id="bT3aAaQqFiAEJa1=",
        at=CREATED_AT.replace(hour=9, minute=1),
        authorizer=SECURITY_OFFICER,
    )
    event["rawQueryString"] = "status=pending"
    event["queryStringParameters"] = {"status": "pending"}
    return event


SECURITY_SAMPLES = {
    "list-contractors.json": list_contractors,
    "verify-contractor.json": lambda: contractor_decision("/verify", "bT3bBbRrFiAEJb2=", None, 2),
    "revoke-contractor-access.json": lambda: contractor_decision(
        "/access/revoke", "bT3cCcSsFiAEJc3=", {"reason": "Жалоба клиента на качество работ"}, 3),
    "grant-contractor-access.json": lambda: contractor_decision(
        "/access/grant", "bT3dDdTtFiAEJd4=", {"reason": "Проверка жалобы завершена"}, 4),
    "reject-contractor.json": lambda: contractor_decision(
        "/reject", "bT3eEeUuFiAEJe5=", {"reason": "Документы не прошли проверку"}, 5),
}

WORKFLOW_SAMPLES = {
    "update-request.json": lambda: workflow_step(
        "PATCH", "", "bT4bUdPqFiAEKb1=", AUTHORIZER,
        {"clarification_answer": "Bosch KGN39, 2019 года", "urgency": "high"}, 10),
    "cancel-request.json": lambda: workflow_step(
        "POST", "/cancel", "bT4cWePrFiAEKc2=", AUTHORIZER, {"reason": "Починил сам"}, 11),
    "ask-clarification.json": lambda: workflow_step(
        "POST", "/clarification", "bT4dXfQsFiAEKd3=", MANAGER, {"question": "Какая модель холодильника?"}, 6),
    "dispatch-request.json": lambda: workflow_step("POST", "/dispatch", "bT4eYgRtFiAEKe4=", MANAGER, None, 12),
    "accept-request.json": lambda: workflow_step("POST", "/accept", "bT4fZhSuFiAEKf5=", CONTRACTOR, None, 13),
    "assign-contractor.json": lambda: workflow_step(
        "POST", "/assign", "bT4gaiTvFiAEKg6=", MANAGER, {"contractor_id": CONTRACTOR_ID}, 13),
    "start-work.json": lambda: workflow_step("POST", "/start", "bT4hbjUwFiAEKh7=", CONTRACTOR, None, 20),
    "complete-work.json": lambda: workflow_step(
        "POST", "/complete", "bT4ickVxFiAEKi8=", CONTRACTOR,
        {"completion_report": "Заменён пусковой конденсатор, холодильник морозит",
         "final_price": {"amount_minor": 450000, "currency": "RUB"}}, 50),
    "list-requests.json": list_requests,
    "get-request-history.json": lambda: workflow_step("GET", "/history", "bT4jdlWyFiAEKj9=", AUTHORIZER, None, 55),
}

# ---- Kafka consumers of workflow-events: a contractor_assigned record
ASSIGNED_EVENT_ID = "0190a5a4-7b1e-7cc0-8a2b-0000000000e2"


def contractor_assigned_envelope() -> dict:
    at = CREATED_AT.replace(minute=13)
    return {
        "specversion": "1.0",
        "id": ASSIGNED_EVENT_ID,
        "source": "accept-request",
        "type": "workflow.contractor_assigned",
        "time": iso(at),
        "subject": REQUEST_ID,
        "dataschema": "urn:servicehub:schema:workflow.contractor_assigned:1",
        "datacontenttype": "application/json",
        "correlationid": CORRELATION_ID,
        "traceparent": TRACEPARENT,
        "data": {
            "request_id": REQUEST_ID,
            "contractor_id": CONTRACTOR_ID,
            "manager_id": MANAGER_ID,
            "customer_id": CUSTOMER_ID,
            "region": "Москва",
            "category": "appliance-repair",
            "assigned_by": {"user_id": CONTRACTOR_ID, "role": "contractor", "service": None},
            "assigned_at": iso(at),
        },
    }


def msk_event(topic: str, partition: int, offset: int, envelope: dict, at: datetime) -> dict:
    record = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": epoch_ms(at) + 29,
        "timestampType": "CREATE_TIME",
        "key": b64(envelope["subject"].encode("utf-8")),
        "value": b64(compact(envelope).encode("utf-8")),
        "headers": [
            {"ce_type": signed_bytes(envelope["type"])},
            {"ce_id": signed_bytes(envelope["id"])},
            {"traceparent": signed_bytes(TRACEPARENT)},
        ],
    }
    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": MSK_CLUSTER_ARN,
        "bootstrapServers": MSK_BOOTSTRAP_SERVERS,
        "records": {f"{topic}-{partition}": [record]},
    }


def security_check() -> dict:
    return msk_event("workflow-events", 2, 41, contractor_assigned_envelope(), CREATED_AT.replace(minute=13))

# ---- notify: a batch from two of its topics (request.created, workflow.contractor_assigned)
def notify() -> dict:
    created = msk_event("request-events", 0, 15, request_created_envelope(), CREATED_AT)
    assigned = msk_event("workflow-events", 2, 41, contractor_assigned_envelope(), CREATED_AT.replace(minute=13))
    created["records"].update(assigned["records"])
    return created


# ---- the audit sink (every topic) and GET /audit
def audit_sink(*, self_managed: bool) -> dict:
    """One batch across two topics: request.created and workflow.contractor_assigned."""
    created = msk_event("request-events", 0, 15, request_created_envelope(), CREATED_AT)
    assigned = msk_event("workflow-events", 1, 42, contractor_assigned_envelope(), CREATED_AT.replace(minute=13))
    event = {**created, "records": {**created["records"], **assigned["records"]}}
    if self_managed:
        del event["eventSourceArn"]
        event["eventSource"] = "SelfManagedKafka"
        event["bootstrapServers"] = SELF_MANAGED_BOOTSTRAP_SERVERS
    return event


def get_analytics() -> dict:
    event = http_api_event(
        method="GET",
        route_path="/analytics/requests",
        raw_path="/analytics/requests",
        request_id="bT5aAnAlFiAEAn1=",
        at=CREATED_AT.replace(hour=11, minute=30),
        authorizer=ADMIN_CLAIMS,
    )
    # No period: the last 30 days before the call, so the sample stays valid whenever it runs.
    query = {"region": "Москва"}
    event["rawQueryString"] = "region=%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0"
    event["queryStringParameters"] = query
    return event


def get_audit() -> dict:
    event = http_api_event(
        method="GET",
        route_path="/audit",
        raw_path="/audit",
        request_id="bT5aAuDiFiAEAu1=",
        at=CREATED_AT.replace(hour=11),
        authorizer=ADMIN_CLAIMS,
    )
    query = {"request_id": REQUEST_ID, "from": "2026-11-21T00:00:00Z", "limit": "50"}
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items()).replace(":", "%3A")
    event["queryStringParameters"] = query
    return event


# ---- HR documents
COMPLETED_EVENT_ID = "0190a5a4-7b1e-7cc0-8a2b-0000000000e3"
ACT_ID = "0190a5a4-7b1e-7cc0-8a2b-0000000000d1"


def work_completed_envelope() -> dict:
    at = CREATED_AT.replace(minute=50)
    return {
        "specversion": "1.0",
        "id": COMPLETED_EVENT_ID,
        "source": "complete-work",
        "type": "workflow.work_completed",
        "time": iso(at),
        "subject": REQUEST_ID,
        "dataschema": "urn:servicehub:schema:workflow.work_completed:1",
        "datacontenttype": "application/json",
        "correlationid": CORRELATION_ID,
        "traceparent": TRACEPARENT,
        "data": {
            "request_id": REQUEST_ID,
            "contractor_id": CONTRACTOR_ID,
            "manager_id": MANAGER_ID,
            "customer_id": CUSTOMER_ID,
            "completion_report": "Заменён пусковой конденсатор, холодильник морозит",
            "final_price": {"amount_minor": 450000, "currency": "RUB"},
            "completed_at": iso(at),
        },
    }


def document_route(method: str, route: str, raw: str, request_id: str, minute: int, authorizer: dict,
                   path_parameters: dict | None = None) -> dict:
    return http_api_event(
        method=method,
        route_path=route,
        raw_path=raw,
        request_id=request_id,
        at=CREATED_AT.replace(hour=11, minute=minute),
        path_parameters=path_parameters,
        authorizer=authorizer,
    )


def list_documents() -> dict:
    event = document_route("GET", "/documents", "/documents", "bT5aMmNnFiAEKa1=", 1, AUTHORIZER)
    event["rawQueryString"] = f"request_id={REQUEST_ID}"
    event["queryStringParameters"] = {"request_id": REQUEST_ID}
    return event


HR_SAMPLES = {
    "hr-documents.json": lambda: msk_event(
        "workflow-events", 2, 57, work_completed_envelope(), CREATED_AT.replace(minute=50)),
    "list-documents.json": list_documents,
    "get-document.json": lambda: document_route(
        "GET", "/documents/{id}", f"/documents/{ACT_ID}", "bT5bNnOoFiAEKb2=", 2, AUTHORIZER, {"id": ACT_ID}),
    "sign-document.json": lambda: document_route(
        "POST", "/documents/{id}/sign", f"/documents/{ACT_ID}/sign", "bT5cOoPpFiAEKc3=", 3, AUTHORIZER,
        {"id": ACT_ID}),
    "list-payments.json": lambda: document_route("GET", "/payments", "/payments", "bT5dPpQqFiAEKd4=", 4, CONTRACTOR),
}

SAMPLES = {
    "create-request.json": create_request,
    "get-request.json": get_request,
    "assign-manager.json": lambda: kafka_event(self_managed=False),
    "assign-manager-self-managed.json": lambda: kafka_event(self_managed=True),
    "outbox-relay.json": outbox_relay,
    "auth-register.json": auth_register,
    "auth-login.json": auth_login,
    "auth-refresh.json": auth_refresh,
    "auth-logout.json": auth_logout,
    "get-me.json": get_me,
    "create-user.json": create_user,
    "update-user.json": update_user,
    "send-contact-code.json": send_contact_code,
    "verify-contact.json": verify_contact,
    "get-notification-settings.json": get_notification_settings,
    "update-notification-settings.json": update_notification_settings,
    "authorizer.json": authorizer,
    **WORKFLOW_SAMPLES,
    **SECURITY_SAMPLES,
    "security-check.json": security_check,
    **HR_SAMPLES,
    "notify.json": notify,
    "audit-sink.json": lambda: audit_sink(self_managed=False),
    "audit-sink-self-managed.json": lambda: audit_sink(self_managed=True),
    "get-audit.json": get_audit,
    "get-analytics.json": get_analytics,
}


def self_check() -> None:
    """The Kafka sample decodes back to exactly what the brief describes."""
    record = kafka_record()
    assert base64.b64decode(record["key"]).decode("utf-8") == REQUEST_ID
    value = json.loads(base64.b64decode(record["value"]).decode("utf-8"))
    assert value == request_created_envelope()
    for header in record["headers"]:
        ((name, raw),) = header.items()
        assert all(-128 <= b <= 127 for b in raw), name
        text = bytes(b & 0xFF for b in raw).decode("utf-8")
        assert text == {"ce_type": "request.created", "ce_id": EVENT_ID, "traceparent": TRACEPARENT}[name]
    assert json.loads(create_request()["body"]) == REQUEST_BODY
    for public in (auth_register, auth_login, auth_refresh):
        assert "authorizer" not in public()["requestContext"], public.__name__
    token = authorizer()["headers"]["authorization"].removeprefix("Bearer ")
    assert authorizer()["identitySource"] == [f"Bearer {token}"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["exp"] == int(VALID_UNTIL.timestamp()) and claims["sub"] == CUSTOMER_ID


def render(build) -> str:
    text = json.dumps(build(), ensure_ascii=False, indent=2)
    # Keep each header's byte array on one line instead of one number per line.
    text = re.sub(
        r"\[\s+(-?\d+(?:,\s+-?\d+)*)\s+\]",
        lambda m: "[" + ", ".join(re.split(r",\s+", m.group(1))) + "]",
        text,
    )
    return text + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file differs instead of writing it")
    args = parser.parse_args()
    self_check()
    stale = []
    for name, build in SAMPLES.items():
        path = HERE / name
        text = render(build)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote events/{name}")
    if stale:
        print(f"out of date (run events/generate_samples.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
