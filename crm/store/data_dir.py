"""Is CRM_DATA_DIR a folder we may write? Said in our words before anything tries to write there."""

from __future__ import annotations

import os
from pathlib import Path

from crm.errors import InvalidInput

FIX = "point CRM_DATA_DIR at a folder this user may write (it is created if missing)"


def check_data_dir(path: Path) -> None:
    """Raise InvalidInput("CRM_DATA_DIR", ...) unless `path` is, or can be made, a writable folder.

    Creates nothing: commands that never write there are not made to.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InvalidInput("CRM_DATA_DIR", f"{path} is a file, not a folder; {FIX}")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InvalidInput("CRM_DATA_DIR", f"{path} cannot be created because {existing} is a file; {FIX}")
    # access() also answers no on a read-only file system, even for root.
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "is" if existing == path else f"cannot be created: {existing} is"
        raise InvalidInput("CRM_DATA_DIR", f"{path} {where} read-only for this user; {FIX}")
