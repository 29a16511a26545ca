"""The plain alternative to backflow (issue 5, target 3): a sequential script on Intercom's
official Python SDK (`python-intercom` 5.0.1), written the way a user would write it.

For each warehouse row: find the contact by `external_id`; update it when found, create it
when not (404). One request at a time, no state between runs (so every row costs a lookup).
A 429 is waited out until `X-RateLimit-Reset`, as a careful user would (the SDK itself does
not retry by default).

The throughput benchmark (`cargo bench -p backflow-scenarios --bench throughput -- sdk`) runs
it against the bundled emulator with the same settings as its rate-limit part (1,000 requests
per 10-second window, 100 ms latency) and compares rows per second with backflow's.

    python3 tests/python/bench_sdk_baseline.py --base-url http://127.0.0.1:4010 --token T \
        (--sqlite warehouse.db --table users | --csv users.csv) [--limit 500] [--version 2.14]

Rows need the columns `id` (the external_id), `email`, `full_name` and `ltv` (a float custom
attribute, created up front if the workspace lacks it; not timed). Prints progress on stderr
and one JSON object on stdout: rows, seconds, rows_per_s, requests, created, updated, errors.
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
import time
from typing import Any, Iterator

import httpx
from intercom import CreateContactRequestWithExternalId, Intercom
from intercom.core.api_error import ApiError
from intercom.types import CreateDataAttributeRequestOne


def rows_from(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    if args.sqlite:
        con = sqlite3.connect(f"file:{args.sqlite}?mode=ro", uri=True)
        con.row_factory = sqlite3.Row
        cur = con.execute(
            f'SELECT id, email, full_name, ltv FROM "{args.table}" ORDER BY rowid LIMIT ?', (args.limit,)
        )
        for r in cur:
            yield dict(r)
        con.close()
    else:
        with open(args.csv, newline="") as f:
            for i, r in enumerate(csv.DictReader(f)):
                if i >= args.limit:
                    break
                r["ltv"] = float(r["ltv"]) if r.get("ltv") not in (None, "") else None
                yield r


class Counter:
    """Counts every HTTP request the SDK sends (httpx event hook)."""

    def __init__(self) -> None:
        self.requests = 0
        self.by_status: dict[int, int] = {}

    def __call__(self, response: httpx.Response) -> None:
        self.requests += 1
        self.by_status[response.status_code] = self.by_status.get(response.status_code, 0) + 1


def wait_out_429(err: ApiError) -> None:
    headers = err.headers or {}
    reset = headers.get("x-ratelimit-reset") or headers.get("X-RateLimit-Reset")
    delay = max(0.0, float(reset) - time.time()) + 0.25 if reset else 1.0
    time.sleep(min(delay, 11.0))


def call(fn, *a, **kw):
    """`fn(*a, **kw)`, waiting out 429s (at most 5 times)."""
    for _ in range(5):
        try:
            return fn(*a, **kw)
        except ApiError as err:
            if err.status_code != 429:
                raise
            wait_out_429(err)
    return fn(*a, **kw)


def upsert(client: Intercom, row: dict[str, Any]) -> str:
    """What a user writes: find by external_id, then update or create. Returns the outcome."""
    ext = str(row["id"])
    attrs = {"ltv": row["ltv"]} if row.get("ltv") is not None else {}
    try:
        found = call(client.contacts.show_contact_by_external_id, ext)
    except ApiError as err:
        if err.status_code != 404:
            raise
        found = None
    if found is not None:
        call(client.contacts.update, found.id, email=row["email"], name=row["full_name"], custom_attributes=attrs)
        return "updated"
    call(
        client.contacts.create,
        request=CreateContactRequestWithExternalId(
            external_id=ext, email=row["email"], name=row["full_name"], custom_attributes=attrs
        ),
    )
    return "created"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-url", required=True)
    p.add_argument("--token", required=True)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--sqlite", help="SQLite file holding --table")
    src.add_argument("--csv", help="CSV file with a header row")
    p.add_argument("--table", default="users")
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--version", default="2.14", help="Intercom-Version header")
    args = p.parse_args()
    if args.sqlite and not args.table:
        p.error("--sqlite needs --table")

    counter = Counter()
    http = httpx.Client(timeout=30.0, event_hooks={"response": [counter]})
    client = Intercom(token=args.token, base_url=args.base_url, headers={"Intercom-Version": args.version},
                      httpx_client=http)

    rows = list(rows_from(args))
    # Setup a user does once, by hand or in the script: the custom attribute must exist.
    names = {a.name for a in client.data_attributes.list(model="contact").data or []}
    if "ltv" not in names:
        client.data_attributes.create(request=CreateDataAttributeRequestOne(name="ltv", model="contact",
                                                                            data_type="float"))
    setup_requests = counter.requests
    counter.by_status.clear()

    outcomes = {"created": 0, "updated": 0, "errors": 0}
    started = time.monotonic()
    last_report = started
    for i, row in enumerate(rows, 1):
        try:
            outcomes[upsert(client, row)] += 1
        except ApiError as err:
            outcomes["errors"] += 1
            print(f"row {row['id']}: {err.status_code} {err.body}", file=sys.stderr)
        now = time.monotonic()
        if now - last_report >= 10:
            last_report = now
            print(f"  sdk baseline: {i}/{len(rows)} rows in {now - started:.0f} s "
                  f"({i / (now - started):.1f} rows/s)", file=sys.stderr, flush=True)
    seconds = time.monotonic() - started
    http.close()
    print(json.dumps({
        "rows": len(rows),
        "seconds": round(seconds, 3),
        "rows_per_s": round(len(rows) / seconds, 3) if seconds > 0 else None,
        "requests": counter.requests - setup_requests,
        "requests_per_row": round((counter.requests - setup_requests) / max(1, len(rows)), 3),
        "by_status": {str(k): v for k, v in sorted(counter.by_status.items())},
        **outcomes,
    }))
    return 0 if outcomes["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
