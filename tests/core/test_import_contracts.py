"""The layer rules hold (lint-imports, configured in pyproject.toml), and they bite: a copy of the
code where the rule engine imports Streamlit, or the campaigns core imports the API, fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(where: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=where, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_layer_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_core_module_importing_streamlit_or_the_api_breaks_the_contracts(tmp_path):
    shutil.copytree(ROOT / "crm", tmp_path / "crm", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    engine = tmp_path / "crm" / "segment_engine" / "describe.py"
    engine.write_text(engine.read_text() + "\nimport streamlit  # a page's concern in the rule engine\n")
    service = tmp_path / "crm" / "campaigns" / "service.py"
    service.write_text(service.read_text() + "\nfrom crm.api import errors  # HTTP in the core\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "crm.segment_engine is not allowed to import streamlit" in result.stdout
    assert "crm.campaigns is not allowed to import crm.api" in result.stdout
