#!/usr/bin/env python3
"""The local stack's schedule: what EventBridge's every-minute rule does in AWS.

In AWS, the template's `Tick` rule (rate(1 minute)) invokes `trigger`
asynchronously with a Scheduled Event every minute; `trigger` starts the syncs
whose cron `schedule` is due at the event's `time` (once per minute, even if
the event comes twice) and the syncs whose `after:` syncs have ended. Locally
nothing fires it, so a sync with `schedule: "* * * * *"` would never start:
this process, started by `scripts/local-up.sh` and stopped by
`scripts/local-down.sh`, invokes `trigger` through `cargo lambda watch`'s
invoke endpoint on every whole minute with EventBridge's own payload:

    {"version": "0", "id": "<uuid>", "detail-type": "Scheduled Event",
     "source": "aws.events", "account": "123456789012",
     "time": "2026-12-06T15:39:00Z", "region": "us-east-1",
     "resources": ["arn:aws:events:us-east-1:123456789012:rule/<stack>-tick"],
     "detail": {}}

Each tick is sent from its own thread, so a slow `trigger` (`cargo lambda
watch` answers when the function has finished, and compiles it on its first
invoke) never delays the next minute. A failed tick is logged and not
retried: the next minute's tick looks again (as EventBridge's retries give up
after 5 minutes, and a later tick supersedes an older one).

Usage: ticker.py --lambda-url http://127.0.0.1:9000 [--function trigger]
                 [--stack-name backflow] [--log-json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from typing import Callable

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account, as the local stack's ARNs
INVOKE_PATH = "/2015-03-31/functions/{function}/invocations"


def scheduled_event(at: datetime, *, stack_name: str = "backflow",
                    event_id: str | None = None) -> dict:
    """EventBridge's Scheduled Event for the tick at `at` (UTC): `time` is the
    minute it stands for, in EventBridge's format (seconds, `Z`)."""
    at = at.astimezone(timezone.utc).replace(second=0, microsecond=0)
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{stack_name}-tick"],
        "detail": {},
    }


def next_tick(now: float) -> float:
    """The next whole minute (Unix seconds) strictly after `now`: a tick is
    never sent twice for one minute, nor early."""
    return (math.floor(now / 60) + 1) * 60.0


def invoke_url(lambda_url: str, function: str) -> str:
    return lambda_url.rstrip("/") + INVOKE_PATH.format(function=function)


def send(url: str, event: dict, timeout: float = 900.0) -> int:
    """POSTs one event as an asynchronous (`Event`) invocation; the HTTP status."""
    body = json.dumps(event).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "content-type": "application/json",
        "x-amz-invocation-type": "Event",
    })
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        answer.read()
        return answer.status


def run(url: str, *, stack_name: str = "backflow", ticks: int | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        deliver: Callable[[str, dict], object] | None = None,
        log: Callable[[str], None] = print) -> list[dict]:
    """Sends a Scheduled Event on every whole minute, `ticks` times (forever
    when None); the events sent. `clock`, `sleep` and `deliver` are what tests
    replace (no test waits a minute)."""
    sent: list[dict] = []

    def deliver_logged(event: dict) -> None:
        try:
            status = send(url, event) if deliver is None else deliver(url, event)
            log(f"ticker: {event['time']} -> {status}")
        except (OSError, urllib.error.URLError) as e:
            log(f"ticker: {event['time']} failed: {e} (the next minute looks again)")

    due = next_tick(clock())
    while ticks is None or len(sent) < ticks:
        now = clock()
        if now < due:
            sleep(due - now)
            continue  # woken early (or the clock stepped back): wait again
        if now - due >= 60:
            # After a suspend or a long stall, only the current minute is
            # sent, not every minute missed in a burst (`trigger` also
            # looks at `after:` syncs on every tick, so nothing is lost).
            due = math.floor(now / 60) * 60.0
        event = scheduled_event(datetime.fromtimestamp(due, timezone.utc), stack_name=stack_name)
        sent.append(event)
        if deliver is None:
            threading.Thread(target=deliver_logged, args=(event,), daemon=True).start()
        else:
            deliver_logged(event)
        due += 60
    return sent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lambda-url", required=True, help="cargo lambda watch, e.g. http://127.0.0.1:9000")
    p.add_argument("--function", default="trigger", help="the function to tick (default %(default)s)")
    p.add_argument("--stack-name", default="backflow", help="names the rule in `resources`")
    args = p.parse_args(argv)
    url = invoke_url(args.lambda_url, args.function)
    print(f"ticker: invoking {url} every minute on the minute", flush=True)

    def log(line: str) -> None:
        print(line, flush=True)

    try:
        run(url, stack_name=args.stack_name, log=log)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
