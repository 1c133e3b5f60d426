"""`python -m crm serve`: starts database, API and UI, and leaves no process behind on exit."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pymongo
import pytest

from crm.store.embedded import EmbeddedServer
from tests.support import ROOT, free_port, stop_gently, wait_for

pytestmark = pytest.mark.slow  # servers started and killed in child processes

START_SECONDS = 120


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            todo += [k for k in kids if k not in found]
            found.update(kids)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_serve(data_dir: Path, *extra: str, env_extra: dict | None = None):
    ui, api = free_port(), free_port()
    env = {**os.environ, "CRM_DATA_DIR": str(data_dir), "CRM_DB_NAME": "serve_test", **(env_extra or {})}
    env.pop("MONGODB_URI", None)
    log = open(data_dir / "serve.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "crm", "serve", "--ui-port", str(ui), "--api-port", str(api), *extra],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for(
        lambda: "ready" in (data_dir / "serve.log").read_text() or process.poll() is not None,
        START_SECONDS,
        "serve to be ready",
    )
    assert process.poll() is None, (data_dir / "serve.log").read_text()
    return process, ui, api


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_answers_then_stops_every_child_on_signal(tmp_path, sig):
    process, ui, api = start_serve(tmp_path)
    try:
        assert httpx.get(f"http://127.0.0.1:{ui}/_stcore/health", timeout=5).text == "ok"
        output = (tmp_path / "serve.log").read_text()
        assert f"UI: http://127.0.0.1:{ui}/" in output
        children = descendants(process.pid)
        assert len(children) >= 3  # database (supervisor + server), UI, and the API when built
        process.send_signal(sig)
        assert process.wait(60) == 0
        wait_for(lambda: not any(alive(pid) for pid in children), 30, "children to exit")
        assert "stopped" in (tmp_path / "serve.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_children_do_not_outlive_a_killed_serve(tmp_path):
    process, ui, _ = start_serve(tmp_path, "--no-api")
    children = descendants(process.pid)
    try:
        assert len(children) >= 3  # database (supervisor + server) and UI: something to outlive it
        process.kill()
        process.wait()
        wait_for(lambda: not any(alive(pid) for pid in children), 60, "orphans to exit")
    finally:
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_serve_refuses_a_busy_port_with_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "CRM_DATA_DIR": str(tmp_path), "CRM_DB_NAME": "serve_test"}
        env.pop("MONGODB_URI", None)
        result = subprocess.run(
            [sys.executable, "-m", "crm", "serve", "--no-api", "--ui-port", str(port)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert result.returncode == 2
    assert "error: the UI did not start" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_reports_an_unreachable_mongodb_uri_in_one_line(tmp_path):
    env = {**os.environ, "CRM_DATA_DIR": str(tmp_path), "MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/"}
    result = subprocess.run(
        [sys.executable, "-m", "crm", "serve", "--no-api", "--ui-port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 2
    assert "error: cannot reach the database at MONGODB_URI" in result.stderr
    assert "Traceback" not in result.stderr


def test_with_redis_configured_serve_runs_the_worker_and_stops_it(tmp_path):
    prefix = f"crm-serve-test-{os.getpid()}:"
    process, _, _ = start_serve(
        tmp_path, env_extra={"REDIS_URL": "redis://127.0.0.1:6379/0", "CRM_STREAM_PREFIX": prefix}
    )
    try:
        assert "worker: persisting queued API writes" in (tmp_path / "serve.log").read_text()
        workers = [
            pid
            for pid in descendants(process.pid)
            if b"worker" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        ]
        assert len(workers) == 1
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
        wait_for(lambda: not alive(workers[0]), 30, "the worker to stop")
    finally:
        if process.poll() is None:
            process.kill()
        import redis

        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


def test_a_second_serve_or_api_on_a_data_dir_in_use_refuses_and_the_first_keeps_its_database(tmp_path):
    first, ui, _ = start_serve(tmp_path, "--no-api")
    try:
        record = json.loads((tmp_path / "mongo.json").read_text())
        env = {**os.environ, "CRM_DATA_DIR": str(tmp_path), "CRM_DB_NAME": "serve_test"}
        env.pop("MONGODB_URI", None)
        for command in (["serve", "--no-api", "--ui-port", str(free_port())], ["api", "--port", str(free_port())]):
            second = subprocess.run(
                [sys.executable, "-m", "crm", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
            )
            assert second.returncode == 2, second.stdout + second.stderr
            assert "Traceback" not in second.stderr
            message = second.stderr.strip().splitlines()[-1]
            assert message.startswith(f"error: the data dir {tmp_path} is in use")
            assert f"pid {first.pid}" in message and "stop that process first" in message
        # The first serve's database is untouched: same server, same owner, answering.
        assert json.loads((tmp_path / "mongo.json").read_text()) == record and alive(record["server_pid"])
        assert httpx.get(f"http://127.0.0.1:{ui}/_stcore/health", timeout=5).text == "ok"
        client = pymongo.MongoClient(EmbeddedServer(tmp_path).read_info().uri, serverSelectionTimeoutMS=5000)
        assert client.admin.command("serverStatus")["pid"] == record["server_pid"]
        client.close()
    finally:
        stop_gently(first)
