"""Runs the embedded database server and stops it when its owner goes away.

Started by the owning process with a pipe on stdin. When the owner exits in any way (clean
exit, Ctrl-C, kill -9) the pipe closes, we read EOF and stop the server, so no orphan server
outlives the app. Usage: python -m crm.store.supervise PORT STORAGE_PATH [--without-auth]
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

STOP_GRACE_SECONDS = 15


def server_command(port: int, storage_path: str, auth: bool = True) -> list[str]:
    # The launcher is installed beside our interpreter; a venv need not be on PATH.
    beside = Path(sys.executable).with_name("secantusd-py")
    exe = str(beside) if beside.exists() else shutil.which("secantusd-py") or "secantusd-py"
    # --sync-on-commit: without it a kill -9 loses acknowledged writes (measured).
    command = [
        exe,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        storage_path,
        "--sync-on-commit",
        "--log-level",
        "WARNING",
    ]
    if auth:  # off only while its first user is set up (credentials.py)
        command.append("--auth")
    # Fault tests make the server fail on purpose (configureFailPoint); any local process could
    # then do the same, so it is off unless asked for.
    if os.environ.get("CRM_DB_TEST_COMMANDS") == "1":
        command.append("--enable-test-commands")
    return command


def main(argv: list[str]) -> int:
    port, storage_path = int(argv[0]), argv[1]
    auth = "--without-auth" not in argv[2:]
    server = subprocess.Popen(server_command(port, storage_path, auth), stdin=subprocess.DEVNULL)
    stop = threading.Event()

    def watch_owner() -> None:
        sys.stdin.buffer.read()  # returns at EOF, i.e. when the owner is gone
        stop.set()

    threading.Thread(target=watch_owner, daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        if server.poll() is not None:  # the server died: nothing left to supervise
            return server.returncode or 1
    server.terminate()
    try:
        server.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
