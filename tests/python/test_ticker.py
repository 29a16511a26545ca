"""The local stack's schedule (`scripts/ticker.py`): EventBridge's Scheduled
Event, sent on every whole minute to `trigger` through `cargo lambda watch`'s
invoke endpoint. No test waits a minute: the clock and the sleep are given,
and one tick goes to a real HTTP server on 127.0.0.1:0 that records it."""

from __future__ import annotations

import http.server
import json
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import ticker  # noqa: E402


def test_the_event_is_eventbridges_scheduled_event():
    at = datetime(2026, 12, 6, 15, 39, 0, 123456, tzinfo=timezone.utc)
    event = ticker.scheduled_event(at, stack_name="backflow", event_id="e-1")
    assert event == {
        "version": "0",
        "id": "e-1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-06T15:39:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/backflow-tick"],
        "detail": {},
    }
    # A fresh id per event, as EventBridge gives.
    a, b = ticker.scheduled_event(at), ticker.scheduled_event(at)
    assert a["id"] != b["id"]


def test_next_tick_is_the_next_whole_minute():
    for now, expected in [
        (0.0, 60.0),
        (59.999, 60.0),
        (60.0, 120.0),  # on the minute: that tick is being sent, the next is a minute on
        (1_796_571_540.5, 1_796_571_600.0),
    ]:
        assert ticker.next_tick(now) == expected, now


class FakeTime:
    """A clock that only moves when slept on (and by `jump`)."""

    def __init__(self, now: float):
        self.now = now
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, secs: float) -> None:
        self.slept.append(secs)
        self.now += secs


def test_ticks_fire_on_every_whole_minute_and_never_twice():
    t = FakeTime(1_796_571_540.0 + 12.5)  # 15:39:12.5
    delivered = []
    events = ticker.run("http://x", ticks=3, clock=t.clock, sleep=t.sleep,
                        deliver=lambda url, e: delivered.append((url, e)) or 202,
                        log=lambda line: None)
    assert [e["time"] for e in events] == [
        "2026-12-06T15:40:00Z", "2026-12-06T15:41:00Z", "2026-12-06T15:42:00Z"]
    assert t.slept == [47.5, 60.0, 60.0]
    assert [e for _, e in delivered] == events


def test_after_a_stall_only_the_current_minute_is_sent():
    t = FakeTime(1_796_571_540.0 + 30)  # 15:39:30

    def stalled_sleep(secs: float) -> None:
        t.sleep(secs + 300)  # the machine slept 5 minutes longer

    events = ticker.run("http://x", ticks=2, clock=t.clock, sleep=stalled_sleep,
                        deliver=lambda url, e: 202, log=lambda line: None)
    assert [e["time"] for e in events] == ["2026-12-06T15:45:00Z", "2026-12-06T15:51:00Z"]


def test_a_failed_tick_is_logged_and_the_next_is_sent():
    t = FakeTime(1_796_571_540.0)
    lines = []

    def deliver(url, event):
        if event["time"].endswith("40:00Z"):
            raise ConnectionRefusedError("cargo lambda watch is not up")
        return 202

    events = ticker.run("http://x", ticks=2, clock=t.clock, sleep=t.sleep,
                        deliver=deliver, log=lines.append)
    assert len(events) == 2
    assert "failed" in lines[0] and "15:40:00Z" in lines[0], lines
    assert lines[1].endswith("-> 202"), lines


def test_a_tick_reaches_the_invoke_endpoint_as_an_event_invocation():
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((self.path, self.headers.get("x-amz-invocation-type"), json.loads(body)))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = ticker.invoke_url(f"http://127.0.0.1:{server.server_port}/", "trigger")
        event = ticker.scheduled_event(datetime(2026, 12, 6, 15, 39, tzinfo=timezone.utc))
        assert ticker.send(url, event, timeout=10) == 202
    finally:
        server.shutdown()
    assert received == [("/2015-03-31/functions/trigger/invocations", "Event", event)]
