"""The three functions on the local stack: the environment they get, the
`cargo lambda watch` command that serves them, and the warm-up that waits until
each answers. scripts/local-up.sh and the scenario harness
(tests/scenarios/src/stack.rs) both take these from here, through
`local_resources.py env|watch|warm`, so there is one local definition.

The environment is the template's (`Globals.Function.Environment` of
infra/template.yaml) with its references resolved for the local stack, plus the
variables only a local stack needs ([`LOCAL_ONLY`]). Two values differ from AWS
on purpose: `BACKFLOW_CONFIG` names a local file (the demo and the tests edit
it between runs) instead of the S3 object, and a function's name is its binary
(`extract`), the name `cargo lambda watch` serves it under.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from cfn_template import REGION, StackModel, Unresolvable

HOST = "127.0.0.1"

# Variables the template does not set, because only the local stack needs them.
LOCAL_ONLY = {
    # cargo lambda watch runs every invoke synchronously, InvocationType=Event
    # included: the functions fire their fan-out invokes without waiting for
    # them. In AWS this variable is never set.
    "BACKFLOW_LOCAL_INVOKE": "detach",
    "AWS_ENDPOINT_URL": "{endpoint}",  # moto: DynamoDB, S3, Secrets Manager
    "AWS_ENDPOINT_URL_LAMBDA": "{lambda_url}",  # cargo lambda watch's invoke API
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",  # no instance metadata to ask for credentials
}

# Where `cargo lambda watch` builds, inside the workspace's target dir (watch_command).
WATCH_TARGET_SUBDIR = "lambda-watch"

# `cargo lambda watch` instances per function: several runs (and a run's loads)
# at once must really run in parallel.
DEFAULT_CONCURRENCY = 4


def function_env(model: StackModel, *, endpoint: str, lambda_url: str, config: str,
                 overrides: list[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """The functions' environment, in the template's order, then the local-only
    variables, then `overrides` (replacing or adding). Call
    `model.name_resources(...)` first so `!Ref` to a table or the bucket
    resolves to its local name."""
    binaries = model.functions()
    env: dict[str, str] = {}
    for var, value in model.env.items():
        if var == "BACKFLOW_CONFIG":
            env[var] = config
            continue
        try:
            resolved = model.resolver.resolve(value)
        except Unresolvable as e:
            raise SystemExit(f"infra/template.yaml: {var} has no local value ({e}); "
                             "teach scripts/local_functions.py what it is locally") from e
        if isinstance(resolved, (dict, list)):
            raise SystemExit(f"infra/template.yaml: {var} does not resolve to a value: {value!r}")
        text = str(resolved).lower() if isinstance(resolved, bool) else str(resolved)
        env[var] = binaries.get(text, text)
    for var, value in LOCAL_ONLY.items():
        env[var] = value.format(endpoint=endpoint, lambda_url=lambda_url)
    for var, value in overrides:
        env[var] = value
    return list(env.items())


def dotenv_value(value: str) -> str:
    """A value for `--env-file` (dotenv syntax): bare when plain, single-quoted
    (literal) when it holds `=`, `,`, spaces, `#` or double quotes."""
    if "\n" in value or "\r" in value:
        raise SystemExit(f"an environment value cannot hold a line break: {value!r}")
    if re.fullmatch(r"[A-Za-z0-9/._:-]*", value):
        return value
    if "'" not in value:
        return f"'{value}'"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dotenv(env: list[tuple[str, str]]) -> str:
    return "".join(f"{k}={dotenv_value(v)}\n" for k, v in env)


def watch_command(*, port: int, env_file: Path, concurrency: int = DEFAULT_CONCURRENCY,
                  release: bool = False, reload: bool = False,
                  target_dir: Path | None = None) -> list[str]:
    """`cargo lambda watch` serving the three functions on 127.0.0.1:`port`, run
    from the repository root. cargo-lambda is the one of the venv this Python
    belongs to (it comes from PyPI with the other tools).

    With `target_dir` (the workspace's), the functions are built in its
    `lambda-watch/` subdirectory: cargo-lambda builds with another environment
    than `cargo test`, which makes `ring`'s build script run again, and with it
    rustls, the AWS SDK and sqlx — in place, in a shared directory, so each
    build would undo the other's and every test run paid both (minutes)."""
    cargo_lambda = Path(sys.executable).parent / "cargo-lambda"
    if not os.access(cargo_lambda, os.X_OK):
        raise SystemExit(f"{cargo_lambda} not found: run with the project's Python "
                         "(scripts/venv.sh tools tests/python/requirements.txt)")
    cmd = [str(cargo_lambda), "lambda", "watch",
           "--invoke-address", HOST, "--invoke-port", str(port),
           "--env-file", str(env_file),
           "--concurrency", str(concurrency)]
    if not reload:
        # Otherwise any file written under the repository that .gitignore does
        # not cover (a SQLite journal beside a warehouse) restarts the
        # functions, killing the invocations in flight.
        cmd.append("--ignore-changes")
    if release:
        cmd.append("--release")  # the profile Lambda runs (benchmarks)
    if target_dir is not None:
        # Through the environment: cargo-lambda also passes a `--target-dir` flag
        # to `cargo metadata`, which refuses it.
        cmd = ["env", f"CARGO_TARGET_DIR={target_dir / WATCH_TARGET_SUBDIR}", *cmd]
    return cmd


# ---------------------------------------------------------------- warm-up --

# A build error in the log of `cargo lambda watch`: it never respawns a
# function that failed to compile, and the request would wait forever.
BUILD_ERROR = re.compile(r"^error(: could not compile|\[E\d+\])", re.M)
PATIENCE = 30  # answers that are not ok in a row before giving up
PROBE_SECS = 30  # the function URL probe, once the functions are warm


class WarmError(Exception):
    pass


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:][:1] not in ("Z", "X")  # a zombie has exited


def _request(method: str, url: str, body: bytes | None, timeout: float) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (OSError, ValueError):  # refused, reset, timed out
        return 0, ""


class Watch:
    """The `cargo lambda watch` being warmed: its URL, log and process."""

    def __init__(self, lambda_url: str, log: Path, pid: int | None, timeout: float):
        self.url, self.log, self.pid = lambda_url.rstrip("/"), log, pid
        self.deadline = time.monotonic() + timeout
        self.offset = log.stat().st_size if log.exists() else 0  # older errors are not ours

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def check(self, what: str) -> None:
        """Fail early: a build error, the process gone, or the time is up."""
        try:
            with open(self.log, "rb") as f:
                f.seek(self.offset)
                new = f.read().decode(errors="replace")
        except OSError:
            new = ""
        m = BUILD_ERROR.search(new)
        if m:
            raise WarmError(f"the functions do not compile:\n{new[m.start():][:6000]}")
        if not _alive(self.pid):
            raise WarmError(f"cargo lambda watch (pid {self.pid}) exited while waiting for {what}")
        if self.left() <= 0:
            raise WarmError(f"{what}: no answer in time")

    def watched(self, method: str, url: str, body: bytes | None, what: str) -> tuple[int, str]:
        """One request allowed all the time left, checked on every second.

        `cargo lambda watch` queues an invoke until the function has compiled
        and keeps it when the caller gives up: an invoke abandoned after a
        shorter timeout still runs later, and its answer then fails (a 500 in
        the log); resent every few seconds, they pile up in front of the one
        that would be answered. So there is one request in flight, and while
        it waits the log and the process are checked (a build error or a dead
        watch fail at once)."""
        answer: list[tuple[int, str]] = []
        sender = threading.Thread(
            target=lambda: answer.append(_request(method, url, body, max(1.0, self.left()))),
            daemon=True)
        sender.start()
        while sender.is_alive():
            sender.join(1.0)
            if sender.is_alive():
                self.check(what)
        return answer[0]

    def invoke_until_ok(self, function: str) -> None:
        """`{"warmup": true}` until the function answers `{"ok": true}`; the
        first invoke compiles and starts it."""
        url = f"{self.url}/2015-03-31/functions/{function}/invocations"
        last, refused = "", 0
        while True:
            status, text = self.watched("POST", url, b'{"warmup":true}',
                                        f"{function} to answer its warm-up")
            try:
                ok = status == 200 and json.loads(text).get("ok") is True
            except (ValueError, AttributeError):
                ok = False
            if ok:
                return
            if status:
                refused, last = refused + 1, f"{status} {text[:500]}"
                if refused >= PATIENCE:
                    raise WarmError(f"{function} keeps answering its warm-up with {last}")
            self.check(f"{function} to answer its warm-up (last answer: {last or 'none'})")
            time.sleep(2.0 if status else 0.3)

    def function_url_problem(self) -> str | None:
        url = f"{self.url}/lambda-url/trigger/syncs"
        status, text = _request("GET", url, None, max(1.0, min(PROBE_SECS, self.left())))
        return None if status == 200 else f"GET {url} answered {status or 'nothing'}: {text[:500]}"


def warm(lambda_url: str, log: Path, pid: int | None, timeout: float) -> dict:
    """Wait for `cargo lambda watch` to listen, warm trigger, extract and load,
    then probe trigger's function URL. `{"function_url_problem": null|str}`."""
    w = Watch(lambda_url, log, pid, timeout)
    while _request("GET", w.url, None, 2.0)[0] == 0:
        w.check("cargo lambda watch to listen")
        time.sleep(0.3)
    for function in ("trigger", "extract", "load"):
        w.invoke_until_ok(function)
    return {"function_url_problem": w.function_url_problem()}
