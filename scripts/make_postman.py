"""Regenerate docs/postman_collection.json from the API's OpenAPI document.

Usage: python scripts/make_postman.py [--check]   (--check: exit 1 if the file is stale)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crm.api.app import create_app  # noqa: E402
from crm.api.postman import render  # noqa: E402

TARGET = ROOT / "docs" / "postman_collection.json"


def main(argv: list[str]) -> int:
    text = render(create_app().openapi())
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET.relative_to(ROOT)} is stale: run python scripts/make_postman.py", file=sys.stderr)
            return 1
        print(f"{TARGET.relative_to(ROOT)} is up to date")
        return 0
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
