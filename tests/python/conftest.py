"""Fixtures: the bundled Intercom emulator (`tests/intercom-emulator`) as a real process.

* `emulator_bin`   (session) the binary, built with `cargo build -p intercom-emulator` when it is
                   missing or older than its sources. `$INTERCOM_EMULATOR_BIN` overrides the path.
* `emulator`       (session) one emulator on a free 127.0.0.1 port with `--token TOKEN`; killed at
                   the end of the session.
* `start_emulator` (session) a factory for extra emulators with their own options
                   (e.g. `--rate-limit 3`); each is killed at the end of the session.
* `reset_emulator` (function) `POST /_emulator/reset` before the test, so tests share no data.
* `api`            (function) a raw-HTTP client (httpx) for the session emulator, bearer token
                   and `Intercom-Version: 2.14` preset.

Nothing is skipped in CI: with `--no-skips`, or `CI` set (scripts/test.sh sets both), a test or
a module that skips (`pytest.skip`, `importorskip`, a skip marker) is reported as failed, so a
missing tool can never make `make test` pass with tests not run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
EMULATOR_CRATE = REPO / "tests" / "intercom-emulator"
TOKEN = "bf-test-token"
DEFAULT_VERSION = "2.14"
START_TIMEOUT_S = 30.0
BUILD_TIMEOUT_S = 1800.0


def _target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR") or "/work/cargo-target")


def _newest_source_mtime() -> float:
    newest = 0.0
    for sub in ("src", "Cargo.toml"):
        p = EMULATOR_CRATE / sub
        files = [p] if p.is_file() else list(p.rglob("*.rs")) if p.is_dir() else []
        for f in files:
            newest = max(newest, f.stat().st_mtime)
    return newest


def _build(binary: Path) -> None:
    env = dict(os.environ, CARGO_TARGET_DIR=str(_target_dir()))
    try:
        proc = subprocess.run(
            ["cargo", "build", "-p", "intercom-emulator"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
        )
    except FileNotFoundError:
        pytest.fail("cargo not found: cannot build the intercom emulator")
    except subprocess.TimeoutExpired:
        pytest.fail(f"cargo build -p intercom-emulator did not finish in {BUILD_TIMEOUT_S:.0f}s")
    if proc.returncode != 0 or not binary.is_file():
        pytest.fail(
            "cargo build -p intercom-emulator failed "
            f"(exit {proc.returncode}):\n{proc.stderr[-6000:]}"
        )


@pytest.fixture(scope="session")
def emulator_bin() -> Path:
    override = os.environ.get("INTERCOM_EMULATOR_BIN")
    if override:
        path = Path(override)
        if not path.is_file():
            pytest.fail(f"INTERCOM_EMULATOR_BIN={override} does not exist")
        return path
    binary = _target_dir() / "debug" / "intercom-emulator"
    if not binary.is_file() or binary.stat().st_mtime < _newest_source_mtime():
        _build(binary)
    return binary


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Emulator:
    """One running emulator process."""

    proc: subprocess.Popen
    port: int
    args: list[str]
    log_path: Path
    token: str = TOKEN
    _log: object = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def client(self, version: str | None = DEFAULT_VERSION, token: str | None = None, **kw) -> httpx.Client:
        headers = {"Accept": "application/json", "Authorization": f"Bearer {token or self.token}"}
        if version:
            headers["Intercom-Version"] = version
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=15.0, **kw)

    def reset(self) -> None:
        with self.client() as c:
            r = c.post("/_emulator/reset")
        assert r.status_code < 300, f"POST /_emulator/reset -> {r.status_code} {r.text[:300]}"

    def stats(self) -> dict:
        with self.client() as c:
            r = c.get("/_emulator/stats")
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()


def launch(binary: Path, extra_args: list[str], token: str = TOKEN) -> Emulator:
    """Start the emulator on a free port and wait (bounded) until it accepts connections."""
    last_error = ""
    for _attempt in range(3):  # a free port can be taken between probe and bind; retry
        port = _free_port()
        args = [str(binary), "--bind", f"127.0.0.1:{port}", "--token", token, *extra_args]
        fd, log_name = tempfile.mkstemp(prefix="intercom-emulator-", suffix=".log")
        log = os.fdopen(fd, "w")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        emu = Emulator(proc=proc, port=port, args=args, log_path=Path(log_name), token=token, _log=log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _port_open(port):
                return emu
            time.sleep(0.05)
        last_error = f"exit={proc.poll()} args={args}\n{emu.log_tail()}"
        emu.stop()
    pytest.fail(f"intercom-emulator did not start listening within {START_TIMEOUT_S}s: {last_error}")


@pytest.fixture(scope="session")
def start_emulator(emulator_bin):
    started: list[Emulator] = []

    def _start(*extra_args: str, token: str = TOKEN) -> Emulator:
        emu = launch(emulator_bin, list(extra_args), token=token)
        started.append(emu)
        return emu

    yield _start
    for emu in started:
        emu.stop()


@pytest.fixture(scope="session")
def emulator(start_emulator) -> Emulator:
    return start_emulator()


@pytest.fixture(scope="session")
def emulator_url(emulator) -> str:
    return emulator.base_url


@pytest.fixture
def reset_emulator(emulator) -> Emulator:
    emulator.reset()
    return emulator


@pytest.fixture
def api(reset_emulator):
    with reset_emulator.client() as c:
        yield c


def pytest_report_header(config):
    return [f"intercom emulator: {_target_dir() / 'debug' / 'intercom-emulator'} (python {sys.version.split()[0]})"]


# ------------------------------------------------------------------ no skips --


def pytest_addoption(parser):
    parser.addoption("--no-skips", action="store_true",
                     help="a skipped test or module fails (also when CI is set)")


def _no_skips(config) -> bool:
    ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    return ci or config.getoption("--no-skips")


def _skip_reason(longrepr) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail_skip(report, config) -> None:
    if report.skipped and not hasattr(report, "wasxfail") and _no_skips(config):
        report.outcome = "failed"
        report.longrepr = (f"skipped ({_skip_reason(report.longrepr)}), and nothing may be "
                           "skipped here (CI or --no-skips): install what it needs "
                           "(scripts/venv.sh tools tests/python/requirements.txt)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_skip(outcome.get_result(), item.config)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_skip(outcome.get_result(), collector.config)
