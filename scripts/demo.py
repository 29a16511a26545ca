#!/usr/bin/env python3
"""Run every sync of the running local stack through the API and show the result.

Called by scripts/demo.sh (`make demo`) once the local stack is up and the
quickstart warehouse is seeded:

1. GET /syncs; for each sync, POST /syncs/{sync}/runs with body {};
2. poll GET /runs/{id} (every second, at most DEMO_RUN_TIMEOUT=300 s) until
   the run is succeeded, partial or failed; print the run record and its
   invalid / rejected / not-found rows;
3. print what the Intercom emulator now holds: GET /contacts?per_page=150,
   POST /companies/list and a count of contacts/companies/events from
   GET /_emulator/dump;
4. the warehouse audiences synced as tags (`fields.tags` of the users sync),
   read back the way an Intercom user would find them: GET /tags, then
   POST /contacts/search for each tag's id — a table of who carries which;
5. run the tagged sync (DEMO_TAGGED_SYNC, users_to_intercom) once more with
   nothing changed, and count the Intercom calls it made from the emulator's
   GET /_emulator/stats: no write, only the token check (GET /me).

Syncs run one after another: companies, then contacts (users, leads), then
events, since contacts attach to companies and events need their user.

Only the standard library. Exit status: 0 when every run ended succeeded or
partial, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HOST = "127.0.0.1"
LAMBDA_PORT = os.environ.get("LOCAL_LAMBDA_PORT", "9000")
INTERCOM_PORT = os.environ.get("LOCAL_INTERCOM_PORT", "4010")
TOKEN = os.environ.get("INTERCOM_ACCESS_TOKEN", "local-token")
API = f"http://{HOST}:{LAMBDA_PORT}/lambda-url/trigger"
INTERCOM = f"http://{HOST}:{INTERCOM_PORT}"
RUN_TIMEOUT = float(os.environ.get("DEMO_RUN_TIMEOUT", "300"))
TAGGED_SYNC = os.environ.get("DEMO_TAGGED_SYNC", "users_to_intercom")
POLL_INTERVAL = 1.0
FINAL = {"succeeded", "partial", "failed"}
OUTCOMES = ("invalid", "rejected", "not_found")


def request(method: str, url: str, body: object | None = None,
            headers: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def intercom(method: str, path: str, body: object | None = None) -> tuple[int, object]:
    return request(method, INTERCOM + path, body,
                   {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.14"})


def pretty(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=False)


def banner(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(0, 70 - len(text)), flush=True)


def start_run(sync: str) -> str | None:
    status, body = request("POST", f"{API}/syncs/{urllib.parse.quote(sync, safe='')}/runs", {})
    if status == 202 and isinstance(body, dict) and body.get("run_id"):
        print(f"started run {body['run_id']} ({body.get('status')})")
        return body["run_id"]
    if status == 409:
        # A run of this sync is already in progress (e.g. started by the
        # schedule): follow that one instead.
        print(f"a run of {sync} is already in progress (409); following it")
        _, syncs = request("GET", f"{API}/syncs")
        for s in (syncs or {}).get("syncs", []):
            if s.get("name") == sync and s.get("last_run"):
                return s["last_run"].get("run_id")
    print(f"could not start {sync}: HTTP {status} {pretty(body)}")
    return None


def wait_for(run_id: str) -> dict | None:
    deadline = time.monotonic() + RUN_TIMEOUT
    last = None
    while True:
        status, body = request("GET", f"{API}/runs/{urllib.parse.quote(run_id, safe='')}")
        if status == 200 and isinstance(body, dict):
            if body.get("status") != last:
                last = body.get("status")
                print(f"  {run_id}: {last}", flush=True)
            if last in FINAL:
                return body
        elif status != 404:  # 404 can precede the first write of the record
            print(f"  GET /runs/{run_id}: HTTP {status} {body}")
        if time.monotonic() >= deadline:
            print(f"  gave up after {RUN_TIMEOUT:.0f}s (status {last})")
            return body if isinstance(body, dict) else None
        time.sleep(POLL_INTERVAL)


def show_rows(run_id: str) -> None:
    for outcome in OUTCOMES:
        status, body = request(
            "GET", f"{API}/runs/{urllib.parse.quote(run_id, safe='')}/rows?outcome={outcome}")
        rows = body.get("rows", []) if isinstance(body, dict) else []
        if status != 200:
            print(f"rows ({outcome}): HTTP {status} {body}")
        elif rows:
            print(f"rows ({outcome}): {len(rows)}")
            for row in rows:
                print("  " + json.dumps(row, sort_keys=False))


def show_intercom() -> None:
    banner("Intercom (emulator) now holds")
    status, contacts = intercom("GET", "/contacts?per_page=150")
    if status == 200 and isinstance(contacts, dict):
        data = contacts.get("data", [])
        print(f"GET /contacts: total_count={contacts.get('total_count')} "
              f"(showing {min(len(data), 20)})")
        for c in data[:20]:
            print(f"  {c.get('role', '?'):5} {c.get('external_id') or '-':>10}  "
                  f"{c.get('email') or '-':35} {c.get('name') or ''}")
    else:
        print(f"GET /contacts: HTTP {status} {contacts}")

    status, companies = intercom("POST", "/companies/list?per_page=50")
    if status == 200 and isinstance(companies, dict):
        data = companies.get("data", [])
        print(f"POST /companies/list: total_count={companies.get('total_count')}")
        for c in data[:20]:
            print(f"  {c.get('company_id') or '-':>10}  {c.get('name') or '':30} "
                  f"plan={((c.get('plan') or {}).get('name') if isinstance(c.get('plan'), dict) else c.get('plan'))} "
                  f"users={c.get('user_count')}")
    else:
        print(f"POST /companies/list: HTTP {status} {companies}")

    status, dump = request("GET", INTERCOM + "/_emulator/dump")
    if status == 200 and isinstance(dump, dict):
        contacts = dump.get("contacts") or []
        companies = dump.get("companies") or []
        events = dump.get("events") or []
        n_events = len(events) if isinstance(events, list) else sum(
            len(v) if isinstance(v, list) else 1 for v in events.values())
        roles: dict[str, int] = {}
        for c in contacts:
            roles[c.get("role", "?")] = roles.get(c.get("role", "?"), 0) + 1
        print("GET /_emulator/dump: "
              f"{len(contacts)} contacts ({', '.join(f'{v} {k}s' for k, v in sorted(roles.items()))}), "
              f"{len(companies)} companies, {n_events} events, "
              f"{len(dump.get('data_attributes') or [])} data attributes")
    else:
        print(f"GET /_emulator/dump: HTTP {status} {dump}")
    status, stats = request("GET", INTERCOM + "/_emulator/stats")
    if status == 200:
        print(f"GET /_emulator/stats: {json.dumps(stats)}")


def show_audiences() -> None:
    banner("audiences as Intercom tags (GET /tags, POST /contacts/search)")
    status, tags = intercom("GET", "/tags")
    if status != 200 or not isinstance(tags, dict):
        print(f"GET /tags: HTTP {status} {tags}")
        return
    listed = sorted(tags.get("data", []), key=lambda t: str(t.get("name")))
    print(f"GET /tags: {len(listed)} tags")
    print(f"{'TAG':20} {'EXTERNAL_ID':>11}  {'EMAIL':28} NAME")
    for tag in listed:
        query = {"query": {"field": "tag_id", "operator": "=", "value": str(tag.get("id"))},
                 "pagination": {"per_page": 150}}
        status, found = intercom("POST", "/contacts/search", query)
        if status != 200 or not isinstance(found, dict):
            print(f"POST /contacts/search (tag {tag.get('name')}): HTTP {status} {found}")
            continue
        contacts = found.get("data", [])
        # External ids are the warehouse's user ids: sort them as numbers.
        contacts.sort(key=lambda c: (len(c.get("external_id") or ""), c.get("external_id") or ""))
        for c in contacts:
            print(f"{tag.get('name') or '':20} {c.get('external_id') or '-':>11}  "
                  f"{c.get('email') or '-':28} {c.get('name') or ''}")
        print(f"{'':20} {len(contacts):>11}  contacts tagged {tag.get('name')!r}")


def rerun_unchanged(sync: str) -> bool:
    banner(f"sync {sync} again, nothing changed")
    _, before = request("GET", INTERCOM + "/_emulator/stats")
    run_id = start_run(sync)
    record = wait_for(run_id) if run_id else None
    if record is None:
        return False
    _, after = request("GET", INTERCOM + "/_emulator/stats")
    calls: dict[str, int] = {}
    for route, n in ((after or {}).get("by_route") or {}).items():
        delta = n - ((before or {}).get("by_route") or {}).get(route, 0)
        if delta:
            calls[route] = delta
    counts = {k: v for k, v in (record.get("counts") or {}).items() if v}
    writes = sum(n for route, n in calls.items() if not route.startswith("GET "))
    print(f"run {run_id}: {record.get('status')}, "
          f"{', '.join(f'{v} {k}' for k, v in counts.items()) or 'no rows'}")
    print(f"Intercom calls during the run: {sum(calls.values())} {json.dumps(calls)}; "
          f"writes: {writes}")
    return record.get("status") in ("succeeded", "partial")


def main() -> int:
    status, body = request("GET", f"{API}/syncs")
    if status != 200 or not isinstance(body, dict):
        print(f"GET /syncs: HTTP {status} {body}")
        return 1
    # Companies first (contacts attach to them), then contacts, then events
    # (an event needs its user to exist); otherwise in the order listed.
    rank = {"company": 0, "contact": 1, "user": 1, "lead": 1, "event": 2}
    listed = body.get("syncs", [])
    syncs = [s["name"] for s in sorted(listed, key=lambda s: rank.get(s.get("object"), 1))]
    banner(f"{len(syncs)} syncs: {', '.join(syncs)}")
    ok = True
    for sync in syncs:
        banner(f"sync {sync}")
        run_id = start_run(sync)
        if run_id is None:
            ok = False
            continue
        record = wait_for(run_id)
        if record is None:
            ok = False
            continue
        print(pretty(record))
        show_rows(run_id)
        ok = ok and record.get("status") in ("succeeded", "partial")
    show_intercom()
    show_audiences()
    if TAGGED_SYNC in syncs:
        ok = rerun_unchanged(TAGGED_SYNC) and ok
    banner("done" if ok else "done, with failed runs")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
