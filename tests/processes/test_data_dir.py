"""A data dir that cannot be used is refused in one line that says how to fix it, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import ROOT, free_port

COMMANDS = [("db", "status"), ("apikey", "list"), ("api", "--port", "0"), ("serve", "--no-api", "--ui-port", "0")]


def run(data_dir, *args: str) -> subprocess.CompletedProcess:
    args = [str(free_port()) if a == "0" else a for a in args]
    env = {**os.environ, "CRM_DATA_DIR": str(data_dir), "CRM_DB_NAME": "data_dir_test"}
    env.pop("MONGODB_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "crm", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: CRM_DATA_DIR: ") and "point CRM_DATA_DIR at a folder" in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_data_dir_that_is_a_file_is_refused_in_one_line(tmp_path, command):
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("")
    assert_refused(run(not_a_folder, *command), f"{not_a_folder} is a file, not a folder")
    assert_refused(run(not_a_folder / "below", *command), f"because {not_a_folder} is a file")


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder on a read-only file system (root may write anywhere else)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a read-only file system here")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_read_only_data_dir_is_refused_in_one_line(read_only_dir, command):
    assert_refused(run(read_only_dir, *command), f"{read_only_dir} is read-only")
    assert_refused(run(read_only_dir / "data", *command), "cannot be created", f"{read_only_dir} is read-only")
