"""Secrets generated once per data dir, for keys that every process on it must share."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def data_dir_secret(data_dir: Path, name: str) -> str:
    """The secret in `data_dir/name`, generated (owner-readable only) if it does not exist yet.

    Written whole to a temporary file, then linked into place: a reader never sees it
    half-written, and of two processes racing on a first start only the first link wins.
    """
    path = Path(data_dir) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
