#!/usr/bin/env python3
"""moto's server with DynamoDB requests handled one at a time: the one way the
local stack and every test start moto.

moto serves each request on its own thread, and its DynamoDB backend checks a
condition and applies the write in separate steps: two conditional UpdateItems
racing on one item can both pass (both "create" a budget window with used = 1).
Real DynamoDB applies each item's conditional writes atomically, and backflow
relies on that (the shared call budget, run locks, delivery and batch markers),
so the local stack and the tests serialize DynamoDB requests to get the same
guarantee. S3 and Secrets Manager stay concurrent.

Usage (with the project's Python, see scripts/python.sh):
  python scripts/moto_server.py [-H HOST] [-p PORT] [--port-file PATH]

`-p 0` lets the system pick a free port: the server binds first, then writes
the port it got to PATH (atomically, once it accepts connections), so a test
never races another process for a port it probed. Prints
`moto: listening on http://HOST:PORT` once bound. TERM or INT stop it.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialized(self, *args, **kwargs):
    with _lock:
        return _call_action(self, *args, **kwargs)


DynamoHandler.call_action = _serialized


def _write_port(path: Path, port: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{port}\n", encoding="utf-8")
    os.replace(tmp, path)  # readers never see a half-written file


def _stop(_signum, _frame) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-H", "--host", default="127.0.0.1")
    p.add_argument("-p", "--port", type=int, default=5000, help="0: any free port")
    p.add_argument("--port-file", type=Path, help="where to write the bound port")
    args = p.parse_args(argv)

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(args.host, args.port, app, threaded=True)
    # moto builds some URLs (SQS queues, Lambda's MOTO_PORT) from this variable.
    os.environ["MOTO_PORT"] = str(server.port)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"moto: listening on http://{args.host}:{server.port}", flush=True)
    if args.port_file is not None:
        _write_port(args.port_file, server.port)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
