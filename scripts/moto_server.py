#!/usr/bin/env python3
"""moto's server with DynamoDB requests handled one at a time.

moto serves each request on its own thread, and its DynamoDB backend checks a
condition and applies the write in separate steps: two conditional UpdateItems
racing on one item can both pass (both "create" a budget window with used = 1).
Real DynamoDB applies each item's conditional writes atomically, and backflow
relies on that (the shared call budget, run locks, delivery and batch markers),
so the local stack and the tests serialize DynamoDB requests to get the same
guarantee. S3 and Secrets Manager stay concurrent.

Usage: the same as `moto_server` (python3 scripts/moto_server.py -H HOST -p PORT).
"""
import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialized(self, *args, **kwargs):
    with _lock:
        return _call_action(self, *args, **kwargs)


DynamoHandler.call_action = _serialized

if __name__ == "__main__":
    main(sys.argv[1:])
