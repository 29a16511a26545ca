"""Conformance of the bundled Intercom emulator with Intercom's official OpenAPI descriptions.

A scripted session drives every operation the emulator serves over raw HTTP and checks EACH response:
the status code must be one the operation documents, and the JSON body must validate against the
documented response schema of `shared/intercom-openapi/2.14/api.intercom.io.yaml` (the version the
official SDKs are generated from). A few calls are sent with `Intercom-Version: 2.16` and checked
against the 2.16 description. Every request body we send is validated against the spec's request
schema too, so the script itself only ever says what the spec allows (except in the error cases,
which are wrong on purpose).

KNOWN SPEC GAPS: the ONLY exceptions made. Each is a gap of the spec itself, not of the emulator
(sources: shared/intercom-openapi/README.md "Known gaps", shared/docs/intercom-api.md §2.4, §4, §6, §10):
  1. 409 on POST /contacts is undocumented: the live API answers a duplicate email/external_id with
     409 `conflict` ("... already exists with id=<id>"); Intercom-OpenAPI PR #543 adding it is still open.
  2. 429 is undocumented on every contacts/companies/events/data-attributes operation (2.14 and 2.16
     list it only on POST /export/reporting_data/enqueue), though the rate limiter answers 429
     `rate_limit_exceeded` anywhere.
  3. Company `custom_attributes` (the `company` response and both company request bodies) and event
     `metadata` (create_data_event_request) are typed `additionalProperties: {type: string}`, but real
     values are numbers and booleans too (the spec's own examples; Preview widened metadata to `true`).
     Widened here to string | number | boolean | null.
  4. GET /companies?company_id=… (and ?name=…) returns ONE company, while the spec declares
     `company_list` (the official SDKs model "company or list"); such responses are validated
     against `company`.
  5. 404 on GET /contacts/{id} is undocumented in the response list although its own 2.14
     description says a merged-away contact "will return a `404 Not Found` error" (and so does an
     unknown id); the body must still be an `error` envelope.
  6. 404 on POST /events is undocumented in the response list although its own description says
     "Events sent about users that cannot be found will return a `404 Not Found`".
  7. GET /contacts/{id}/companies: the `contact_attached_companies` schema names the array
     `companies`, but the operation's own example (2.11, 2.14 and 2.16 alike) carries it in `data`.
     Neither key is `required`, so the schema accepts both; the script reads whichever is present.
     (python-intercom reads only `companies`: see test_sdk.py and EMULATOR_GAPS.md.)
  8. Custom object `custom_attributes` (custom_object_instance and
     create_or_update_custom_object_instance_request) are typed `additionalProperties: {type: string}`,
     but custom object attributes are also numbers, booleans and dates, and the operations' own
     examples send and return `total_amount: 99.99`. Widened like gap 3.
  9. POST /tags: the request body is a `oneOf` whose first member (`create_or_update_tag_request`:
     only `name` required, any other key allowed) also matches every tag-companies, untag-companies
     and tag-users body, so those are "valid under more than one schema" and no such body can pass.
     Each is validated against the member it is meant to be instead (`tag_body`).
 10. 400 is undocumented for POST /contacts/{id}/subscriptions (a consent_type that is not the
     type's own, a missing id or consent_type) and for POST /custom_object_instances/{type} (a value
     of the wrong type, an attribute the type does not have, no external_id); 2.14 lists only
     200/401/404 there. The emulator's 400s are its documented choices (README); the body must
     still be an `error` envelope.
 11. GET /custom_object_instances/{type} without `external_id`: 2.14 makes `external_id` required
     and answers one instance; 2.16 lists the type's instances when it is left out
     (`listCustomObjectInstances`). The list is checked against 2.16 only.
 12. The `contact` schema (2.14 and 2.16) has no `opted_in_subscription_types` /
     `opted_out_subscription_types`, though every contact example carries both list stubs; the
     schema allows extra keys, so they pass unchecked, and the script checks them by hand.
For every undocumented status allowed above the body is still validated against `error`.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest

from openapi_check import Finding, GapRules, OpenAPISpec, SchemaPatch, check_response, spec_root

SCALAR = {
    "nullable": True,
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
}

KNOWN_SPEC_GAPS = GapRules(
    undocumented_status={
        ("POST", "/contacts", 409): "gap 1: 409 conflict on POST /contacts is undocumented (PR #543)",
        ("*", "*", 429): "gap 2: 429 rate_limit_exceeded is undocumented on these operations",
        ("GET", "/contacts/{contact_id}", 404): "gap 5: 404 described in ShowContact's text, not in its responses",
        ("POST", "/events", 404): "gap 6: 404 for an unknown user described in createDataEvent's text only",
        ("POST", "/contacts/{contact_id}/subscriptions", 400): "gap 10: no 400 documented",
        ("POST", "/custom_object_instances/{custom_object_type_identifier}", 400): "gap 10: no 400 documented",
    },
    alternate_schema={
        ("GET", "/companies"): (
            lambda query, body: "company"
            if ("company_id" in query or "name" in query) else None,
            "gap 4: ?company_id= / ?name= returns a single company, the spec says company_list",
        ),
    },
)

SPEC_PATCHES = [  # gap 3
    SchemaPatch("/components/schemas/company/properties/custom_attributes/additionalProperties", SCALAR,
                "gap 3: company custom_attributes typed string-only"),
    SchemaPatch("/components/schemas/create_or_update_company_request/properties/custom_attributes/additionalProperties",
                SCALAR, "gap 3: company custom_attributes typed string-only"),
    SchemaPatch("/components/schemas/update_company_request/properties/custom_attributes/additionalProperties",
                SCALAR, "gap 3: company custom_attributes typed string-only"),
    SchemaPatch("/components/schemas/create_data_event_request/properties/metadata/additionalProperties",
                SCALAR, "gap 3: event metadata typed string-only"),
    SchemaPatch("/components/schemas/custom_object_instance/properties/custom_attributes/additionalProperties",
                SCALAR, "gap 8: custom object attributes typed string-only"),
    SchemaPatch("/components/schemas/create_or_update_custom_object_instance_request/properties/custom_attributes/"
                "additionalProperties", SCALAR, "gap 8: custom object attributes typed string-only"),
]

# Every operation the emulator serves (2.14 path templates); the last test checks each was replayed.
REQUIRED_OPERATIONS = [
    "GET /me",
    "POST /contacts",
    "GET /contacts/{contact_id}",
    "PUT /contacts/{contact_id}",
    "DELETE /contacts/{contact_id}",
    "POST /contacts/{contact_id}/archive",
    "POST /contacts/{contact_id}/unarchive",
    "POST /contacts/search",
    "GET /contacts",
    "GET /contacts/find_by_external_id/{external_id}",
    "POST /contacts/merge",
    "POST /contacts/{contact_id}/companies",
    "GET /contacts/{contact_id}/companies",
    "DELETE /contacts/{contact_id}/companies/{company_id}",
    "POST /companies",
    "GET /companies",
    "GET /companies/{company_id}",
    "PUT /companies/{company_id}",
    "DELETE /companies/{company_id}",
    "GET /companies/{company_id}/contacts",
    "POST /companies/list",
    "GET /companies/scroll",
    "POST /events",
    "GET /events",
    "GET /data_attributes",
    "POST /data_attributes",
    "PUT /data_attributes/{data_attribute_id}",
    "GET /tags",
    "POST /tags",
    "GET /tags/{tag_id}",
    "DELETE /tags/{tag_id}",
    "GET /contacts/{contact_id}/tags",
    "POST /contacts/{contact_id}/tags",
    "DELETE /contacts/{contact_id}/tags/{tag_id}",
    "GET /subscription_types",
    "GET /contacts/{contact_id}/subscriptions",
    "POST /contacts/{contact_id}/subscriptions",
    "DELETE /contacts/{contact_id}/subscriptions/{subscription_id}",
    "POST /custom_object_instances/{custom_object_type_identifier}",
    "GET /custom_object_instances/{custom_object_type_identifier}",
    "DELETE /custom_object_instances/{custom_object_type_identifier}",
    "GET /custom_object_instances/{custom_object_type_identifier}/{custom_object_instance_id}",
    "DELETE /custom_object_instances/{custom_object_type_identifier}/{custom_object_instance_id}",
]

_SPECS: dict[str, OpenAPISpec] = {}
EXERCISED: dict[str, set[str]] = {}  # version -> operation keys with a validated response
GAPS_USED: set[str] = set()


def spec(version: str) -> OpenAPISpec:
    if version not in _SPECS:
        _SPECS[version] = OpenAPISpec(spec_root() / version / "api.intercom.io.yaml", SPEC_PATCHES)
    return _SPECS[version]


class CheckedApi:
    """Raw HTTP against the emulator; every response is checked against the spec of the version sent.

    Violations are collected (and printed) rather than raised at once, so one run reports every
    mismatch of a scripted session; the test fails at its end if there were any.
    """

    def __init__(self, emulator, version: str = "2.14"):
        self.emulator = emulator
        self.version = version
        self.findings: list[Finding] = []
        self._clients: dict[tuple[str | None, str | None], httpx.Client] = {}

    def _client(self, version: str | None, token: str | None) -> httpx.Client:
        key = (version, token)
        if key not in self._clients:
            self._clients[key] = self.emulator.client(version=version, token=token)
        return self._clients[key]

    def close(self) -> None:
        for c in self._clients.values():
            c.close()

    def finding(self, call: str, problem: str) -> None:
        f = Finding(call, problem)
        print("SPEC FINDING:", f)
        self.findings.append(f)

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict | None = None,
        version: str | None = None,
        token: str | None = None,
        headers: dict | None = None,
        expect: int | None = 200,
        validate_request: bool = True,
        raw_body: str | None = None,
    ) -> httpx.Response:
        version = version or self.version
        s = spec(version)
        call = f"[{version}] {method} {path}" + (f"?{httpx.QueryParams(params)}" if params else "")
        if json_body is not None and raw_body is None:
            call += f" {json.dumps(json_body)[:300]}"
        op = s.find_operation(method, path)
        if validate_request and json_body is not None and op is not None:
            req_schema = s.request_body_schema(op)
            if req_schema is not None:
                errs = s.schema_errors(json_body, req_schema, write=True)
                assert not errs, f"test bug: request body for {call} violates the spec: {errs}"
        kwargs: dict[str, Any] = {"params": params, "headers": headers}
        if raw_body is not None:
            kwargs["content"] = raw_body
            kwargs["headers"] = {"Content-Type": "application/json", **(headers or {})}
        elif json_body is not None:
            kwargs["json"] = json_body
        r = self._client(version, token).request(method, path, **kwargs)
        _, problems, gaps = check_response(
            s, KNOWN_SPEC_GAPS, method, path, dict(params or {}), r.status_code,
            {k.lower(): v for k, v in r.headers.items()}, r.text,
        )
        GAPS_USED.update(gaps)
        if op is not None and not problems:
            EXERCISED.setdefault(version, set()).add(op.key)
        if expect is not None and r.status_code != expect:
            problems.insert(0, f"expected status {expect}, got {r.status_code}: {r.text[:400]}")
        for p in problems:
            self.finding(call, p)
        return r

    # shorthands
    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, json_body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, json_body=body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def check(self, cond: bool, call: str, problem: str) -> None:
        """A behaviour the docs state (not a schema rule); recorded like a schema finding."""
        if not cond:
            self.finding(call, problem)

    def assert_clean(self) -> None:
        if self.findings:
            pytest.fail(
                f"{len(self.findings)} conformance finding(s):\n" + "\n".join(f"- {f}" for f in self.findings),
                pytrace=False,
            )


@pytest.fixture
def capi(reset_emulator):
    api = CheckedApi(reset_emulator)
    yield api
    api.close()


# What a workspace admin declares in Intercom's settings; the API cannot create these.
DECLARED_ARGS = (
    "--subscription-type", "Newsletters",               # opt_out, Intercom's default kind
    "--subscription-type", "Product updates:opt_in",
    "--custom-object-type", "Order:order_number=string,total_amount=float,placed_at=date,paid=boolean,items=integer",
)


@pytest.fixture(scope="module")
def declared_emulator(start_emulator):
    """An emulator with subscription types and a custom object type (see DECLARED_ARGS)."""
    return start_emulator(*DECLARED_ARGS)


@pytest.fixture
def dcapi(declared_emulator):
    declared_emulator.reset()
    api = CheckedApi(declared_emulator)
    yield api
    api.close()


def body(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return None


def need(r: httpx.Response, status: int = 200) -> dict:
    """A step the rest of the script depends on: stop here if it did not succeed."""
    assert r.status_code == status, f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:500]}"
    return r.json() if r.content else {}


def error_codes(r: httpx.Response) -> list[str]:
    b = body(r) or {}
    return [e.get("code") for e in b.get("errors", []) if isinstance(e, dict)]


def make_attributes(capi: CheckedApi, model: str, specs: dict[str, str]) -> None:
    """Custom attributes must exist before they can be written (intercom-api.md §2.2)."""
    for name, data_type in specs.items():
        need(capi.post("/data_attributes", {"name": name, "model": model, "data_type": data_type}))


# ---------------------------------------------------------------------------------------------
# Admin
# ---------------------------------------------------------------------------------------------


def test_me(capi):
    r = capi.get("/me")
    me = need(r)
    h = {k.lower(): v for k, v in r.headers.items()}
    capi.check(h.get("x-ratelimit-limit") == "1667" and h.get("x-ratelimit-remaining", "").isdigit()
               and h.get("x-ratelimit-reset", "").isdigit(), "GET /me",
               f"X-RateLimit-* headers on an authenticated response (D-RL): "
               f"{[(k, v) for k, v in h.items() if k.startswith('x-ratelimit')]}")
    capi.check(me.get("type") == "admin", "GET /me", f"type should be 'admin', got {me.get('type')!r}")
    capi.check(isinstance(me.get("app"), dict) and bool(me["app"].get("id_code")), "GET /me",
               f"app.id_code missing: {me.get('app')!r}")
    capi.assert_clean()


# ---------------------------------------------------------------------------------------------
# Contacts
# ---------------------------------------------------------------------------------------------


def test_contact_lifecycle(capi):
    make_attributes(capi, "contact", {"plan_tier": "string", "lifetime_value": "float", "beta": "boolean"})
    me = need(capi.get("/me"))
    now = int(time.time())
    created = need(capi.post("/contacts", {
        "role": "user",
        "external_id": "u-1",
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "phone": "+15550100",
        "signed_up_at": now - 86400,
        "last_seen_at": now - 60,
        "owner_id": int(me["id"]),  # an integer up to 2.14
        "unsubscribed_from_emails": False,
        "custom_attributes": {"plan_tier": "pro", "lifetime_value": 155.5, "beta": True},
    }))
    cid = created["id"]
    call = "POST /contacts"
    capi.check(created.get("type") == "contact", call, f"type {created.get('type')!r}")
    capi.check(created.get("role") == "user", call, f"role {created.get('role')!r}")
    capi.check(created.get("email") == "ada@example.com", call, f"email {created.get('email')!r}")
    capi.check(created.get("email_domain") == "example.com", call, f"email_domain {created.get('email_domain')!r}")
    capi.check(created.get("external_id") == "u-1", call, f"external_id {created.get('external_id')!r}")
    capi.check(created.get("owner_id") == int(me["id"]), call, f"owner_id {created.get('owner_id')!r}")
    capi.check(created.get("custom_attributes", {}).get("lifetime_value") == 155.5, call,
               f"custom_attributes {created.get('custom_attributes')!r}")

    got = need(capi.get(f"/contacts/{cid}"))
    capi.check(got.get("id") == cid and got.get("email") == "ada@example.com", "GET /contacts/{id}",
               f"got {got.get('id')!r} {got.get('email')!r}")

    updated = need(capi.put(f"/contacts/{cid}", {
        "name": "Ada King", "custom_attributes": {"plan_tier": "enterprise"},
    }))
    capi.check(updated.get("name") == "Ada King", "PUT /contacts/{id}", f"name {updated.get('name')!r}")
    capi.check(updated.get("custom_attributes", {}).get("plan_tier") == "enterprise", "PUT /contacts/{id}",
               f"custom_attributes {updated.get('custom_attributes')!r}")

    by_ext = need(capi.get("/contacts/find_by_external_id/u-1"))
    capi.check(by_ext.get("id") == cid, "GET /contacts/find_by_external_id/u-1", f"id {by_ext.get('id')!r}")

    archived = need(capi.post(f"/contacts/{cid}/archive"))
    capi.check(archived == {"type": "contact", "id": cid, "external_id": "u-1", "archived": True} or
               (archived.get("id") == cid and archived.get("archived") is True),
               "POST /contacts/{id}/archive", f"body {archived!r}")
    unarchived = need(capi.post(f"/contacts/{cid}/unarchive"))
    capi.check(unarchived.get("id") == cid and unarchived.get("archived") is False,
               "POST /contacts/{id}/unarchive", f"body {unarchived!r}")

    # 409: the same email again (gap 1); the existing id is inside the message only.
    dup = capi.post("/contacts", {"email": "ada@example.com"}, expect=409)
    msg = ((body(dup) or {}).get("errors") or [{}])[0].get("message") or ""
    capi.check("conflict" in error_codes(dup), "POST /contacts (duplicate)", f"codes {error_codes(dup)}")
    capi.check(re.search(r"id=(\w+)", msg) is not None and re.search(r"id=(\w+)", msg).group(1) == cid,
               "POST /contacts (duplicate)", f"message should carry id={cid}: {msg!r}")

    # An archived match is still a conflict, with its own wording (intercom-api.md §2.4).
    need(capi.post(f"/contacts/{cid}/archive"))
    dup = capi.post("/contacts", {"external_id": "u-1"}, expect=409)
    msg = ((body(dup) or {}).get("errors") or [{}])[0].get("message") or ""
    capi.check(msg.startswith("An archived contact matching those details already exists with id=")
               and msg.endswith(cid), "POST /contacts (archived duplicate)", f"message {msg!r}")
    need(capi.post(f"/contacts/{cid}/unarchive"))

    deleted = need(capi.delete(f"/contacts/{cid}"))
    capi.check(deleted.get("id") == cid and deleted.get("deleted") is True, "DELETE /contacts/{id}",
               f"body {deleted!r}")
    gone = capi.get(f"/contacts/{cid}", expect=404)  # gap 5
    capi.check("not_found" in error_codes(gone), "GET deleted contact", f"codes {error_codes(gone)}")
    capi.assert_clean()


def test_contact_list_cursor(capi):
    ids = {need(capi.post("/contacts", {"email": f"list{i}@example.com"}))["id"] for i in range(5)}
    seen: list[str] = []
    params: dict[str, Any] = {"per_page": 2}
    for _ in range(10):
        page = need(capi.get("/contacts", params=params))
        seen += [c["id"] for c in page.get("data", [])]
        capi.check(page.get("type") == "list" and page.get("total_count") == 5, "GET /contacts",
                   f"type/total_count {page.get('type')!r} {page.get('total_count')!r}")
        nxt = (page.get("pages") or {}).get("next") or {}
        if not nxt.get("starting_after"):
            break
        params = {"per_page": 2, "starting_after": nxt["starting_after"]}
    capi.check(sorted(seen) == sorted(ids), "GET /contacts (cursor walk)",
               f"walked {seen}, expected each of {sorted(ids)} once")
    capi.assert_clean()


def test_search_nested_query_and_body_cursor(capi):
    for i, (name, role) in enumerate([("alpha", "user"), ("beta", "user"), ("gamma", "user"),
                                      ("delta", "lead"), ("epsilon", "user")]):
        payload = {"email": f"{name}@search.example", "name": name.title(), "role": role}
        if role == "user":
            payload["external_id"] = f"s-{i}"
        need(capi.post("/contacts", payload))
    # (email = alpha OR email = beta OR email = delta OR name ~ "silo") AND (role = user OR external_id = s-9)
    query = {
        "operator": "AND",
        "value": [
            {"operator": "OR", "value": [
                {"field": "email", "operator": "=", "value": "alpha@search.example"},
                {"field": "email", "operator": "=", "value": "beta@search.example"},
                {"field": "email", "operator": "=", "value": "delta@search.example"},
                {"field": "name", "operator": "~", "value": "silo"},
            ]},
            {"operator": "OR", "value": [
                {"field": "role", "operator": "=", "value": "user"},
                {"field": "external_id", "operator": "=", "value": "s-9"},
            ]},
        ],
    }
    found: list[str] = []
    pagination: dict[str, Any] = {"per_page": 1}
    for _ in range(6):
        page = need(capi.post("/contacts/search", {"query": query, "pagination": pagination}))
        capi.check(page.get("total_count") == 3, "POST /contacts/search",
                   f"total_count {page.get('total_count')!r} (alpha, beta, epsilon)")
        found += [c.get("email") for c in page.get("data", [])]
        nxt = (page.get("pages") or {}).get("next") or {}
        if not nxt.get("starting_after"):
            break
        pagination = {"per_page": 1, "starting_after": nxt["starting_after"]}
    capi.check(sorted(found) == ["alpha@search.example", "beta@search.example", "epsilon@search.example"],
               "POST /contacts/search (body cursor walk)", f"found {found}")

    single = need(capi.post("/contacts/search", {"query": {"field": "email", "operator": "^", "value": "gam"}}))
    capi.check([c.get("email") for c in single.get("data", [])] == ["gamma@search.example"],
               "POST /contacts/search (single filter)", f"data {[c.get('email') for c in single.get('data', [])]}")
    capi.assert_clean()


def test_merge_lead_into_user(capi):
    lead = need(capi.post("/contacts", {"role": "lead", "email": "merge@example.com", "name": "Lead"}))
    user = need(capi.post("/contacts", {"role": "user", "external_id": "m-1", "email": "merge@example.com"}))
    capi.check(lead.get("role") == "lead", "POST /contacts role=lead", f"role {lead.get('role')!r}")
    merged = need(capi.post("/contacts/merge", {"from": lead["id"], "into": user["id"]}))
    capi.check(merged.get("id") == user["id"] and merged.get("role") == "user", "POST /contacts/merge",
               f"should return the user {user['id']}: {merged.get('id')!r} {merged.get('role')!r}")
    gone = capi.get(f"/contacts/{lead['id']}", expect=404)  # 2.14: 404 (gap 5)
    capi.check("not_found" in error_codes(gone), "GET merged lead (2.14)", f"codes {error_codes(gone)}")
    capi.assert_clean()


# ---------------------------------------------------------------------------------------------
# Companies
# ---------------------------------------------------------------------------------------------


def test_companies(capi):
    make_attributes(capi, "company", {"seats": "integer", "region": "string", "churn_risk": "boolean"})
    base = {"company_id": "c-1", "name": "Acme", "plan": "pro", "size": 40, "website": "https://acme.example",
            "industry": "Manufacturing", "monthly_spend": 155, "remote_created_at": 1700000000,
            "custom_attributes": {"seats": 12, "region": "eu", "churn_risk": False}}  # gap 3: numbers/booleans
    first = need(capi.post("/companies", base))
    again = need(capi.post("/companies", {"company_id": "c-1", "name": "Acme Inc"}))  # upsert on company_id
    co = first["id"]
    capi.check(again.get("id") == co and again.get("name") == "Acme Inc", "POST /companies (upsert)",
               f"second upsert should update {co}: {again.get('id')!r} {again.get('name')!r}")
    capi.check(first.get("company_id") == "c-1" and first.get("type") == "company", "POST /companies",
               f"{first.get('company_id')!r} {first.get('type')!r}")
    capi.check((first.get("plan") or {}).get("name") == "pro", "POST /companies", f"plan {first.get('plan')!r}")
    capi.check(first.get("custom_attributes", {}).get("seats") == 12, "POST /companies",
               f"custom_attributes {first.get('custom_attributes')!r}")
    need(capi.post("/companies", {"company_id": "c-2", "name": "Empty Co"}))

    got = need(capi.get(f"/companies/{co}"))
    capi.check(got.get("id") == co, "GET /companies/{id}", f"id {got.get('id')!r}")
    by_cid = need(capi.get("/companies", params={"company_id": "c-1"}))  # gap 4
    capi.check(by_cid.get("id") == co, "GET /companies?company_id=c-1", f"body {str(by_cid)[:200]}")
    put = need(capi.put(f"/companies/{co}", {"name": "Acme Corp", "custom_attributes": {"seats": 15}}))
    capi.check(put.get("name") == "Acme Corp" and put.get("custom_attributes", {}).get("seats") == 15,
               "PUT /companies/{id}", f"{put.get('name')!r} {put.get('custom_attributes')!r}")

    # Attach a contact: only companies with users appear in list/scroll (createOrUpdateCompany, listAllCompanies).
    contact = need(capi.post("/contacts", {"email": "emp@acme.example", "external_id": "e-1"}))
    attached = need(capi.post(f"/contacts/{contact['id']}/companies", {"id": co}))
    capi.check(attached.get("id") == co and attached.get("user_count") == 1,
               "POST /contacts/{id}/companies", f"{attached.get('id')!r} user_count={attached.get('user_count')!r}")
    of_contact = need(capi.get(f"/contacts/{contact['id']}/companies"))
    attached_list = of_contact.get("companies", of_contact.get("data", []))  # gap 7
    capi.check([c.get("id") for c in attached_list] == [co],
               "GET /contacts/{id}/companies", f"body {str(of_contact)[:300]}")
    of_company = need(capi.get(f"/companies/{co}/contacts"))
    capi.check([c.get("id") for c in of_company.get("data", [])] == [contact["id"]],
               "GET /companies/{id}/contacts", f"body {str(of_company)[:300]}")
    shown = need(capi.get(f"/contacts/{contact['id']}"))
    capi.check([c.get("id") for c in (shown.get("companies") or {}).get("data", [])] == [co],
               "GET /contacts/{id} companies stub", f"companies {shown.get('companies')!r}")

    listed = need(capi.post("/companies/list", params={"page": 1, "per_page": 10}))
    capi.check([c.get("company_id") for c in listed.get("data", [])] == ["c-1"], "POST /companies/list",
               f"only c-1 has a user: {[c.get('company_id') for c in listed.get('data', [])]}")

    scrolled: list[str] = []
    params: dict[str, Any] = {}
    for _ in range(5):
        page = need(capi.get("/companies/scroll", params=params))
        data = page.get("data") or []
        if not data:
            break
        scrolled += [c.get("company_id") for c in data]
        capi.check(bool(page.get("scroll_param")), "GET /companies/scroll", "scroll_param missing")
        params = {"scroll_param": page.get("scroll_param")}
    capi.check(scrolled == ["c-1"], "GET /companies/scroll", f"scrolled {scrolled}")

    detached = need(capi.delete(f"/contacts/{contact['id']}/companies/{co}"))
    capi.check(detached.get("id") == co and detached.get("user_count") == 0,
               "DELETE /contacts/{id}/companies/{company_id}",
               f"{detached.get('id')!r} user_count={detached.get('user_count')!r}")

    deleted = need(capi.delete(f"/companies/{co}"))
    capi.check(deleted == {"id": co, "object": "company", "deleted": True}, "DELETE /companies/{id}",
               f"body {deleted!r}")
    capi.get(f"/companies/{co}", expect=404)
    capi.assert_clean()


# ---------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------


def test_events(capi):
    user = need(capi.post("/contacts", {"email": "ev@example.com", "external_id": "u-ev"}))
    lead = need(capi.post("/contacts", {"role": "lead", "email": "evlead@example.com"}))
    t = int(time.time()) - 100
    for payload in (
        {"event_name": "invited-friend", "created_at": t, "user_id": "u-ev",
         "metadata": {"invite_code": "ABC", "seats": 3, "paid": True}},  # gap 3
        {"event_name": "invited-friend", "created_at": t + 1, "email": "ev@example.com"},
        {"event_name": "viewed-pricing", "created_at": t + 2, "id": lead["id"]},
    ):
        r = capi.post("/events", payload, expect=202)
        capi.check(r.content == b"", "POST /events", f"202 must have an empty body: {r.text[:200]!r}")
    # A duplicate (same contact, name, created_at) is still 202.
    capi.post("/events", {"event_name": "invited-friend", "created_at": t, "user_id": "u-ev"}, expect=202)

    listed = need(capi.get("/events", params={"type": "user", "user_id": "u-ev"}))
    capi.check(len(listed.get("events") or []) == 2, "GET /events?type=user&user_id=u-ev",
               f"2 distinct events expected: {str(listed)[:400]}")
    summary = need(capi.get("/events", params={"type": "user", "user_id": "u-ev", "summary": "true"}))
    items = {i.get("name"): i for i in summary.get("events") or [] if isinstance(i, dict)}
    capi.check(summary.get("type") == "event.summary" and items.get("invited-friend", {}).get("count") == 2,
               "GET /events?type=user&user_id=u-ev&summary=true",
               f"data_event_summary with {{name, first, last, count}} items expected: {str(summary)[:400]}")
    by_id = need(capi.get("/events", params={"type": "user", "intercom_user_id": user["id"]}))
    capi.check(len(by_id.get("events") or []) == 2, "GET /events?intercom_user_id=", f"{str(by_id)[:300]}")

    missing = capi.post("/events", {"event_name": "x", "created_at": t, "user_id": "nobody"}, expect=404)  # gap 6
    capi.check(bool(error_codes(missing)), "POST /events unknown user", f"body {missing.text[:200]!r}")
    capi.assert_clean()


# ---------------------------------------------------------------------------------------------
# Data attributes
# ---------------------------------------------------------------------------------------------


def test_data_attributes(capi):
    before = need(capi.get("/data_attributes", params={"model": "contact"}))
    capi.check(any(a.get("custom") is False for a in before.get("data", [])), "GET /data_attributes",
               "standard (custom:false) attributes expected in the list")
    created = need(capi.post("/data_attributes", {
        "name": "lifetime_value", "model": "contact", "data_type": "float",
        "description": "LTV in USD", "messenger_writable": False,
    }))
    call = "POST /data_attributes"
    capi.check(created.get("full_name") == "custom_attributes.lifetime_value", call, f"{created.get('full_name')!r}")
    capi.check(created.get("custom") is True and created.get("api_writable") is True
               and created.get("archived") is False, call, f"body {created!r}")
    capi.check(isinstance(created.get("id"), int), call, f"id must be an integer: {created.get('id')!r}")
    need(capi.post("/data_attributes", {"name": "Mithril Shirt", "model": "company", "data_type": "string"}))

    updated = need(capi.put(f"/data_attributes/{created['id']}", {"description": "LTV (USD)", "messenger_writable": True}))
    capi.check(updated.get("messenger_writable") is True, "PUT /data_attributes/{id}", f"body {updated!r}")
    archived = need(capi.put(f"/data_attributes/{created['id']}", {"archived": True}))
    capi.check(archived.get("archived") is True, "PUT /data_attributes/{id} archived", f"body {archived!r}")

    active = need(capi.get("/data_attributes", params={"model": "contact"}))
    capi.check("lifetime_value" not in [a.get("name") for a in active.get("data", [])],
               "GET /data_attributes", "archived attribute listed without include_archived")
    everything = need(capi.get("/data_attributes", params={"model": "contact", "include_archived": "true"}))
    capi.check("lifetime_value" in [a.get("name") for a in everything.get("data", [])],
               "GET /data_attributes?include_archived=true", "archived attribute missing")
    companies = need(capi.get("/data_attributes", params={"model": "company"}))
    capi.check(all(a.get("model") == "company" for a in companies.get("data", [])),
               "GET /data_attributes?model=company", "non-company attribute listed")

    dup = capi.post("/data_attributes", {"name": "Mithril Shirt", "model": "contact", "data_type": "string"},
                    expect=400)  # names clash across models
    capi.check("parameter_invalid" in error_codes(dup), "POST /data_attributes duplicate", f"{error_codes(dup)}")
    nf = capi.put("/data_attributes/999999999", {"archived": False}, expect=404)
    capi.check("field_not_found" in error_codes(nf), "PUT /data_attributes/999999999", f"{error_codes(nf)}")
    capi.assert_clean()


# ---------------------------------------------------------------------------------------------
# Tags
# ---------------------------------------------------------------------------------------------


def tag_body(capi: CheckedApi, body: dict, member: str, expect: int = 200) -> httpx.Response:
    """POST /tags with `body` validated against the one `oneOf` member it is meant to be (gap 9)."""
    errs = spec("2.14").schema_errors(body, spec("2.14").schema(member), write=True)
    assert not errs, f"test bug: POST /tags body is not a valid {member}: {errs}"
    return capi.post("/tags", body, expect=expect, validate_request=False)


def names_of(company: dict) -> list[str]:
    return [t.get("name") for t in (company.get("tags") or {}).get("tags") or []]


def test_tags(capi):
    vip = need(capi.post("/tags", {"name": "VIP"}))
    capi.check(vip.get("type") == "tag" and vip.get("name") == "VIP", "POST /tags", f"body {vip!r}")
    again = need(capi.post("/tags", {"name": "vip"}))
    capi.check(again.get("id") == vip["id"], "POST /tags (same name, other case)",
               f"names are case insensitive: {again!r} vs {vip!r}")
    churn = need(capi.post("/tags", {"name": "Churn risk"}))
    renamed = need(capi.post("/tags", {"id": churn["id"], "name": "Churn watch"}))
    capi.check(renamed.get("id") == churn["id"] and renamed.get("name") == "Churn watch",
               "POST /tags {id, name}", f"body {renamed!r}")
    dup = capi.post("/tags", {"id": churn["id"], "name": "VIP"}, expect=400)
    capi.check(error_codes(dup) == ["parameter_invalid"], "POST /tags rename onto a taken name", f"{error_codes(dup)}")
    bad = capi.post("/tags", {"test": "invalid"}, expect=400, validate_request=False)  # the spec's example
    capi.check(error_codes(bad) == ["parameter_invalid"], "POST /tags {test: invalid}", f"{error_codes(bad)}")
    listed = need(capi.get("/tags"))
    capi.check([t.get("name") for t in listed.get("data", [])] == ["VIP", "Churn watch"], "GET /tags",
               f"data {listed.get('data')!r}")
    found = need(capi.get(f"/tags/{vip['id']}"))
    capi.check(found == {"type": "tag", "id": vip["id"], "name": "VIP"}, "GET /tags/{id}", f"body {found!r}")

    contact = need(capi.post("/contacts", {"email": "tagged@example.com"}))
    cid = contact["id"]
    applied = need(capi.post(f"/contacts/{cid}/tags", {"id": vip["id"]}))
    capi.check(applied.get("id") == vip["id"] and isinstance(applied.get("applied_at"), int)
               and (applied.get("applied_by") or {}).get("type") == "admin",
               "POST /contacts/{id}/tags", f"body {applied!r}")
    of_contact = need(capi.get(f"/contacts/{cid}/tags"))
    capi.check([t.get("id") for t in of_contact.get("data", [])] == [vip["id"]], "GET /contacts/{id}/tags",
               f"body {of_contact!r}")
    shown = need(capi.get(f"/contacts/{cid}"))
    stub = shown.get("tags") or {}
    capi.check(stub.get("total_count") == 1 and [t.get("id") for t in stub.get("data", [])] == [vip["id"]],
               "GET /contacts/{id} tags stub", f"tags {stub!r}")
    removed = need(capi.delete(f"/contacts/{cid}/tags/{vip['id']}"))
    capi.check(removed.get("id") == vip["id"], "DELETE /contacts/{id}/tags/{tag_id}", f"body {removed!r}")
    again = capi.delete(f"/contacts/{cid}/tags/{vip['id']}", expect=404)
    capi.check(error_codes(again) == ["not_found"], "DELETE a tag that is not applied", f"{error_codes(again)}")

    gone = capi.delete(f"/tags/{churn['id']}")  # 200 with no body, as documented
    capi.check(gone.status_code == 200 and not gone.content, "DELETE /tags/{id}", f"{gone.status_code} {gone.text!r}")
    capi.get(f"/tags/{churn['id']}", expect=404)
    capi.assert_clean()


def test_tags_in_bulk(capi):
    user = need(capi.post("/contacts", {"email": "bulk-user@example.com"}))
    lead = need(capi.post("/contacts", {"role": "lead", "email": "bulk-lead@example.com"}))
    companies = []
    for i in range(3):
        co = need(capi.post("/companies", {"company_id": f"bulk-{i}", "name": f"Bulk {i}"}))
        need(capi.post(f"/contacts/{user['id']}/companies", {"id": co["id"]}))  # listed companies need users
        companies.append(co)

    tagged = need(tag_body(capi, {"name": "Enterprise", "companies": [
        {"id": companies[0]["id"]}, {"company_id": "bulk-1"}, {"company_id": "bulk-2"}]}, "tag_company_request"))
    for co in companies:
        got = need(capi.get(f"/companies/{co['id']}"))
        capi.check(names_of(got) == ["Enterprise"], "GET /companies/{id} after bulk tagging", f"tags {got.get('tags')!r}")
    by_tag = need(capi.get("/companies", params={"tag_id": tagged["id"]}))
    capi.check(sorted(c.get("company_id") for c in by_tag.get("data", [])) == ["bulk-0", "bulk-1", "bulk-2"],
               "GET /companies?tag_id=", f"data {[c.get('company_id') for c in by_tag.get('data', [])]}")

    untagged = need(tag_body(capi, {"name": "Enterprise", "companies": [
        {"id": companies[0]["id"], "untag": True}, {"company_id": "bulk-1", "untag": True}]}, "untag_company_request"))
    capi.check(untagged.get("id") == tagged["id"], "POST /tags (untag companies)", f"body {untagged!r}")
    left = [names_of(need(capi.get(f"/companies/{co['id']}"))) for co in companies]
    capi.check(left == [[], [], ["Enterprise"]], "untag companies", f"tags per company {left}")

    users = need(tag_body(capi, {"name": "Beta", "users": [{"id": user["id"]}, {"id": lead["id"]}]},
                          "tag_multiple_users_request"))
    for c in (user, lead):
        of = need(capi.get(f"/contacts/{c['id']}/tags"))
        capi.check([t.get("id") for t in of.get("data", [])] == [users["id"]], "POST /tags (users)",
                   f"{c['role']} tags {of!r}")
    hits = need(capi.post("/contacts/search", {"query": {"field": "tag_id", "operator": "=", "value": users["id"]}}))
    capi.check(hits.get("total_count") == 2, "POST /contacts/search tag_id =", f"total_count {hits.get('total_count')!r}")

    missing = tag_body(capi, {"name": "Enterprise", "companies": [{"company_id": "no-such"}]},
                       "tag_company_request", expect=404)
    capi.check(error_codes(missing) == ["company_not_found"], "POST /tags unknown company", f"{error_codes(missing)}")
    nobody = tag_body(capi, {"name": "Beta", "users": [{"id": "5f4d3c1c7b1b4d7da97e6096"}]},
                      "tag_multiple_users_request", expect=404)
    capi.check(error_codes(nobody) == ["not_found"], "POST /tags unknown user", f"{error_codes(nobody)}")
    capi.check(bool(need(capi.get("/tags")).get("data")), "GET /tags", "tags listed")
    capi.assert_clean()


def test_contact_in_several_companies(capi):
    contact = need(capi.post("/contacts", {"email": "member@example.com"}))
    ids = [need(capi.post("/companies", {"company_id": f"m-{i}"}))["id"] for i in range(3)]
    for co in ids:
        need(capi.post(f"/contacts/{contact['id']}/companies", {"id": co}))
    listed = need(capi.get(f"/contacts/{contact['id']}/companies"))
    capi.check([c.get("id") for c in listed.get("companies", [])] == ids and listed.get("total_count") == 3,
               "GET /contacts/{id}/companies (three)", f"body {str(listed)[:300]}")
    need(capi.delete(f"/contacts/{contact['id']}/companies/{ids[1]}"))
    listed = need(capi.get(f"/contacts/{contact['id']}/companies"))
    capi.check([c.get("id") for c in listed.get("companies", [])] == [ids[0], ids[2]],
               "DELETE one of three companies", f"left {[c.get('id') for c in listed.get('companies', [])]}")
    again = capi.delete(f"/contacts/{contact['id']}/companies/{ids[1]}", expect=404)
    capi.check(error_codes(again) == ["company_not_found"], "detach twice", f"{error_codes(again)}")
    capi.assert_clean()


# ---------------------------------------------------------------------------------------------
# Subscription types
# ---------------------------------------------------------------------------------------------


def test_subscriptions(dcapi):
    types = need(dcapi.get("/subscription_types")).get("data", [])
    by_name = {(t.get("default_translation") or {}).get("name"): t for t in types}
    dcapi.check(set(by_name) == {"Newsletters", "Product updates"}, "GET /subscription_types", f"types {types!r}")
    news, updates = by_name.get("Newsletters", {}), by_name.get("Product updates", {})
    dcapi.check(news.get("consent_type") == "opt_out" and updates.get("consent_type") == "opt_in"
                and news.get("state") == "live", "GET /subscription_types", f"{news!r} {updates!r}")

    contact = need(dcapi.post("/contacts", {"email": "subscriber@example.com"}))
    path = f"/contacts/{contact['id']}/subscriptions"
    out = need(dcapi.post(path, {"id": news["id"], "consent_type": "opt_out"}))
    dcapi.check(out.get("id") == news["id"], f"POST {path} opt_out", f"body {out!r}")
    opted_in = need(dcapi.post(path, {"id": updates["id"], "consent_type": "opt_in"}))
    dcapi.check(opted_in.get("consent_type") == "opt_in", f"POST {path} opt_in", f"body {opted_in!r}")
    listed = need(dcapi.get(path))
    dcapi.check([t.get("id") for t in listed.get("data", [])] == [news["id"], updates["id"]], f"GET {path}",
                f"body {listed!r}")
    shown = need(dcapi.get(f"/contacts/{contact['id']}"))  # gap 12: checked by hand
    stubs = {k: [t.get("id") for t in (shown.get(k) or {}).get("data", [])]
             for k in ("opted_out_subscription_types", "opted_in_subscription_types")}
    dcapi.check(stubs == {"opted_out_subscription_types": [news["id"]], "opted_in_subscription_types": [updates["id"]]},
                "GET /contacts/{id} subscription stubs", f"{stubs}")
    detached = need(dcapi.delete(f"{path}/{news['id']}"))
    dcapi.check(detached.get("id") == news["id"], f"DELETE {path}/{{id}}", f"body {detached!r}")

    mismatch = dcapi.post(path, {"id": news["id"], "consent_type": "opt_in"}, expect=400)  # gap 10
    dcapi.check(error_codes(mismatch) == ["parameter_invalid"], "consent_type not the type's own",
                f"{error_codes(mismatch)}")
    unknown = dcapi.post(path, {"id": "invalid_id", "consent_type": "opt_in"}, expect=404)  # the spec's example
    dcapi.check(error_codes(unknown) == ["not_found"], "unknown subscription type", f"{error_codes(unknown)}")
    nobody = dcapi.get("/contacts/5f4d3c1c7b1b4d7da97e6096/subscriptions", expect=404)
    dcapi.check(error_codes(nobody) == ["not_found"], "subscriptions of an unknown contact", f"{error_codes(nobody)}")
    dcapi.assert_clean()


# ---------------------------------------------------------------------------------------------
# Custom object instances
# ---------------------------------------------------------------------------------------------

ORDERS = "/custom_object_instances/Order"


def test_custom_objects(dcapi):
    created = need(dcapi.post(ORDERS, {  # the operation's own example, plus typed attributes (gap 8)
        "external_id": "123", "external_created_at": 1392036272, "external_updated_at": 1392036272,
        "custom_attributes": {"order_number": "ORDER-12345", "total_amount": 99.99, "paid": False, "items": 2},
    }))
    dcapi.check(created.get("type") == "Order" and created.get("external_id") == "123", f"POST {ORDERS}",
                f"body {created!r}")
    updated = need(dcapi.post(ORDERS, {"external_id": "123", "custom_attributes": {"paid": True}}))
    dcapi.check(updated.get("id") == created.get("id") and updated.get("custom_attributes", {}).get("paid") is True
                and updated.get("custom_attributes", {}).get("total_amount") == 99.99,
                f"POST {ORDERS} (update)", f"upsert by external_id keeps the id and merges: {updated!r}")
    by_ext = need(dcapi.get(ORDERS, params={"external_id": "123"}))
    dcapi.check(by_ext.get("id") == created["id"], f"GET {ORDERS}?external_id=", f"body {by_ext!r}")
    by_id = need(dcapi.get(f"{ORDERS}/{created['id']}"))
    dcapi.check(by_id.get("id") == created["id"], f"GET {ORDERS}/{{id}}", f"body {by_id!r}")
    need(dcapi.post(ORDERS, {"external_id": "124"}))
    listed = need(dcapi.get(ORDERS, params={"per_page": 1}, version="2.16"))  # gap 11
    dcapi.check(listed.get("total_count") == 2 and len(listed.get("data", [])) == 1
                and bool((listed.get("pages") or {}).get("next")), f"[2.16] GET {ORDERS}", f"body {listed!r}")

    deleted = need(dcapi.delete(ORDERS, params={"external_id": "124"}))
    dcapi.check(deleted.get("deleted") is True and deleted.get("object") == "Order", f"DELETE {ORDERS}?external_id=",
                f"body {deleted!r}")
    deleted = need(dcapi.delete(f"{ORDERS}/{created['id']}"))
    dcapi.check(deleted == {"id": created["id"], "object": "Order", "deleted": True}, f"DELETE {ORDERS}/{{id}}",
                f"body {deleted!r}")
    gone = dcapi.get(ORDERS, params={"external_id": "123"}, expect=404)
    dcapi.check(error_codes(gone) == ["not_found"], "GET a deleted instance", f"{error_codes(gone)}")

    no_type = dcapi.post("/custom_object_instances/Invoice", {"external_id": "1"}, expect=404)
    msg = ((body(no_type) or {}).get("errors") or [{}])[0].get("message")
    dcapi.check(msg == "Custom object type `Invoice` not found", "POST to an undeclared type (TypeNotFound)", f"{msg!r}")
    wrong = dcapi.post(ORDERS, {"external_id": "125", "custom_attributes": {"total_amount": "lots"}}, expect=400)
    msg = ((body(wrong) or {}).get("errors") or [{}])[0].get("message") or ""
    dcapi.check("total_amount" in msg, "a value of the wrong type (gap 10)", f"{error_codes(wrong)} {msg!r}")
    dcapi.assert_clean()


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_unauthorized(capi):
    for token in ("wrong-token",):
        r = capi.get("/contacts", token=token, expect=401)
        capi.check(error_codes(r) == ["unauthorized"], "GET /contacts bad token", f"codes {error_codes(r)}")
        capi.check(not any(h.lower().startswith("x-ratelimit") for h in r.headers), "GET /contacts bad token",
                   f"no rate-limit headers on a 401 (D-RL17): {dict(r.headers)}")
        capi.post("/contacts", {"email": "x@example.com"}, token=token, expect=401)
        capi.post("/companies", {"company_id": "x"}, token=token, expect=401)
        capi.get("/data_attributes", token=token, expect=401)
    # No Authorization header at all.
    with capi.emulator.client() as c:
        c.headers.pop("Authorization")
        r = c.get("/contacts")
    capi.check(r.status_code == 401, "GET /contacts (no token)", f"status {r.status_code}")
    _, problems, _ = check_response(spec("2.14"), KNOWN_SPEC_GAPS, "GET", "/contacts", {}, r.status_code,
                                    {k.lower(): v for k, v in r.headers.items()}, r.text)
    for p in problems:
        capi.finding("GET /contacts (no token)", p)
    capi.assert_clean()


def test_not_found(capi):
    contact = need(capi.post("/contacts", {"email": "nf@example.com"}))
    company = need(capi.post("/companies", {"company_id": "nf-1", "name": "NF"}))
    missing_company = "5f4d3c1c7b1b4d7da97e6095"
    missing_contact = "5f4d3c1c7b1b4d7da97e6096"
    for r, code in (
        (capi.get(f"/companies/{missing_company}", expect=404), "company_not_found"),
        (capi.put(f"/companies/{missing_company}", {"name": "x"}, expect=404), "company_not_found"),
        (capi.delete(f"/companies/{missing_company}", expect=404), "company_not_found"),
        (capi.get("/companies", params={"company_id": "no-such-company"}, expect=404), "company_not_found"),
        (capi.get(f"/companies/{missing_company}/contacts", expect=404), "company_not_found"),
        (capi.post(f"/contacts/{contact['id']}/companies", {"id": missing_company}, expect=404), "company_not_found"),
        (capi.post(f"/contacts/{missing_contact}/companies", {"id": company["id"]}, expect=404), "not_found"),
        (capi.get(f"/contacts/{missing_contact}/companies", expect=404), "not_found"),
        (capi.delete(f"/contacts/{missing_contact}/companies/{company['id']}", expect=404), "not_found"),
        (capi.get(f"/contacts/{missing_contact}", expect=404), "not_found"),  # gap 5
    ):
        capi.check(code in error_codes(r), f"{r.request.method} {r.request.url.path}",
                   f"expected code {code}, got {error_codes(r)}")
    capi.assert_clean()


def test_bad_requests(capi):
    contact = need(capi.post("/contacts", {"email": "bad@example.com"}))
    r = capi.post("/companies", {"test": "invalid"}, expect=400)
    capi.check(error_codes(r) == ["bad_request"], "POST /companies unknown field", f"codes {error_codes(r)}")
    r = capi.post(f"/contacts/{contact['id']}/companies", {}, expect=400, validate_request=False)
    capi.check(error_codes(r) == ["parameter_not_found"], "POST /contacts/{id}/companies without id",
               f"codes {error_codes(r)}")
    r = capi.post("/data_attributes", {"name": "The Second Ring", "model": "company", "data_type": "mithril"},
                  expect=400, validate_request=False)
    capi.check(error_codes(r) == ["parameter_invalid"], "POST /data_attributes bad data_type", f"{error_codes(r)}")
    r = capi.post("/data_attributes", {"name": "Ring", "model": "conversation", "data_type": "string"},
                  expect=400, validate_request=False)
    capi.check(error_codes(r) == ["parameter_invalid"], "POST /data_attributes bad model", f"{error_codes(r)}")
    capi.assert_clean()


def test_rate_limited(start_emulator):
    emu = start_emulator("--rate-limit", "3")
    capi = CheckedApi(emu)
    try:
        statuses = []
        last = None
        for i in range(8):  # 3 per 10-second window; a window boundary may reset once
            last = capi.get("/contacts", expect=None)
            statuses.append(last.status_code)
            if i == 0:
                h = {k.lower(): v for k, v in last.headers.items()}
                capi.check(h.get("x-ratelimit-limit") == "3" and h.get("x-ratelimit-remaining") == "2",
                           "GET /contacts (first in window)",
                           f"X-RateLimit-* headers: {[(k, v) for k, v in h.items() if k.startswith('x-ratelimit')]}")
            if last.status_code == 429:
                break
        capi.check(statuses[-1] == 429, "GET /contacts x8 with --rate-limit 3", f"statuses {statuses}")
        capi.check(statuses[0] == 200, "GET /contacts (first)", f"statuses {statuses}")
        if last is not None and last.status_code == 429:
            h = {k.lower(): v for k, v in last.headers.items()}
            capi.check(error_codes(last) == ["rate_limit_exceeded"], "429", f"codes {error_codes(last)}")
            capi.check(h.get("x-ratelimit-limit") == "3" and h.get("x-ratelimit-remaining") == "0"
                       and h.get("x-ratelimit-reset", "").isdigit(), "429 headers",
                       f"X-RateLimit-* headers: {[(k, v) for k, v in h.items() if k.startswith('x-ratelimit')]}")
        capi.assert_clean()
    finally:
        capi.close()


# ---------------------------------------------------------------------------------------------
# Intercom-Version: 2.16, checked against the 2.16 description
# ---------------------------------------------------------------------------------------------


def test_version_2_16(capi):
    v = "2.16"
    me = need(capi.get("/me", version=v))
    user = need(capi.post("/contacts", {"role": "user", "external_id": "v16", "email": "v16@example.com",
                                        "owner_id": str(me["id"])}, version=v))
    capi.check(user.get("owner_id") == str(me["id"]), "[2.16] POST /contacts",
               f"owner_id is a string in 2.16: {user.get('owner_id')!r}")
    as_214 = need(capi.get(f"/contacts/{user['id']}"))
    capi.check(as_214.get("owner_id") == int(me["id"]), "[2.14] GET /contacts/{id}",
               f"owner_id is an integer in 2.14: {as_214.get('owner_id')!r}")
    need(capi.get(f"/contacts/{user['id']}", version=v))
    need(capi.get("/contacts", version=v))

    query = {"field": "email", "operator": "$", "value": "@example.com"}
    ok = need(capi.post("/contacts/search", {"query": query, "sort": {"field": "created_at", "order": "ascending"},
                                             "pagination": {"per_page": 5}}, version=v))
    capi.check(ok.get("total_count") == 1, "[2.16] POST /contacts/search", f"total_count {ok.get('total_count')!r}")
    bad = capi.post("/contacts/search", {"query": query, "sort": {"field": "created_at", "order": "desc"}},
                    version=v, expect=400, validate_request=False)
    capi.check(error_codes(bad) == ["invalid_sort_order"], "[2.16] search sort desc", f"codes {error_codes(bad)}")

    # Merge: 2.16 refuses non-duplicates unless skip_duplicate_validation; the merged lead is 410 Gone.
    other = need(capi.post("/contacts", {"role": "lead", "email": "someone-else@example.com"}, version=v))
    r = capi.post("/contacts/merge", {"from": other["id"], "into": user["id"]}, version=v, expect=400)
    capi.check(error_codes(r) == ["invalid_merge"], "[2.16] merge non-duplicates", f"codes {error_codes(r)}")
    lead = need(capi.post("/contacts", {"role": "lead", "email": "v16@example.com"}, version=v))
    merged = need(capi.post("/contacts/merge", {"from": lead["id"], "into": user["id"]}, version=v))
    capi.check(merged.get("id") == user["id"], "[2.16] POST /contacts/merge", f"id {merged.get('id')!r}")
    gone = capi.get(f"/contacts/{lead['id']}", version=v, expect=410)
    capi.check(error_codes(gone) == ["contact_merged"], "[2.16] GET merged lead", f"codes {error_codes(gone)}")
    link = gone.headers.get("link", "")
    capi.check(link == f'</contacts/{user["id"]}>; rel="canonical"', "[2.16] GET merged lead",
               f"Link header {link!r}")

    r = capi.get("/data_attributes", params={"model": "conversation"}, version=v, expect=422)
    capi.check(error_codes(r) == ["parameter_invalid"], "[2.16] GET /data_attributes?model=conversation",
               f"codes {error_codes(r)}")
    need(capi.post("/companies", {"company_id": "v16-co", "name": "V16", "update_last_request_at": True}, version=v))
    need(capi.get("/data_attributes", params={"model": "company"}, version=v))
    capi.assert_clean()


# ---------------------------------------------------------------------------------------------
# Coverage of the scripted session (run last)
# ---------------------------------------------------------------------------------------------


def test_zz_every_operation_replayed(request):
    selected = {item.name for item in request.session.items if item.module is request.module}
    if len(selected) < 13:
        pytest.skip("coverage is only meaningful when the whole module runs")
    missing = [op for op in REQUIRED_OPERATIONS if op not in EXERCISED.get("2.14", set())]
    assert not missing, f"operations with no spec-valid response in this run: {missing}"
    for key in REQUIRED_OPERATIONS:  # the list names real 2.14 operations
        spec("2.14").operation_by_key(key)
    assert len(EXERCISED.get("2.16", set())) >= 5, EXERCISED.get("2.16")


# ---------------------------------------------------------------------------------------------
# The checker itself (no emulator): it must reject what the spec rejects, or the replay proves nothing
# ---------------------------------------------------------------------------------------------


def test_checker_rejects_what_the_spec_rejects():
    s14, s16 = spec("2.14"), spec("2.16")
    json_ct = {"content-type": "application/json"}
    assert s14.find_operation("GET", "/companies/scroll").template == "/companies/scroll"
    assert s14.find_operation("GET", "/companies/6762f0").template == "/companies/{company_id}"
    assert s14.find_operation("POST", "/contacts/merge").template == "/contacts/merge"

    def problems(s, method, path, status, payload, rules=KNOWN_SPEC_GAPS, query=None, headers=json_ct):
        text = payload if isinstance(payload, str) else json.dumps(payload)
        return check_response(s, rules, method, path, query or {}, status, headers, text)[1]

    ok_contact = {"type": "contact", "id": "a1", "role": "user", "created_at": 1, "owner_id": 5, "custom_attributes": {}}
    assert problems(s14, "GET", "/contacts/a1", 200, ok_contact) == []
    assert problems(s14, "GET", "/contacts/a1", 200, {**ok_contact, "created_at": "1"})       # integer field
    assert problems(s14, "GET", "/contacts/a1", 200, {**ok_contact, "owner_id": "5"})         # int in 2.14
    assert problems(s16, "GET", "/contacts/a1", 200, {**ok_contact, "owner_id": 5})           # string in 2.16
    assert problems(s14, "GET", "/contacts/a1", 200, ok_contact, headers={"content-type": "text/plain"})
    assert problems(s14, "GET", "/contacts/a1", 201, ok_contact)                              # undocumented 2xx
    assert problems(s14, "POST", "/contacts/a1/archive", 404, {"type": "error.list", "errors": [{"code": "x"}]})
    assert problems(s14, "POST", "/events", 202, {"ok": True})                                # 202 has no body
    assert problems(s14, "POST", "/events", 202, "") == []
    err = {"type": "error.list", "request_id": None, "errors": [{"code": "conflict", "message": "m"}]}
    assert problems(s14, "POST", "/contacts", 409, err) == []                                 # gap 1
    assert problems(s14, "POST", "/contacts", 409, err, rules=GapRules())                     # ...only as a gap
    assert problems(s14, "POST", "/contacts", 409, {"type": "error.list", "errors": [{"message": "m"}]})  # code required
    assert problems(s14, "GET", "/contacts", 401, {**err, "request_id": "not-a-uuid"})        # format: uuid
    company = {"type": "company", "id": "c", "company_id": "x", "custom_attributes": {"seats": 3}}
    assert problems(s14, "GET", "/companies", 200, company, query={"company_id": "x"}) == []  # gaps 3 and 4
    assert problems(s14, "GET", "/companies", 200, {**company, "custom_attributes": {"n": {"nested": 1}}},
                    query={"company_id": "x"})                                                # still scalars only
    raw14 = OpenAPISpec(spec_root() / "2.14" / "api.intercom.io.yaml")                        # unpatched
    assert check_response(raw14, KNOWN_SPEC_GAPS, "GET", "/companies/c", {}, 200, json_ct, json.dumps(company))[1]
