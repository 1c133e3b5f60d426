"""Settings: one table in crm/config.py, the README's table agrees with it, bad values are named."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest

from crm.config import Settings, load_settings, shown_default
from crm.errors import InvalidInput
from tests.support import ROOT


def readme_table() -> dict[str, str]:
    """Variable -> default as the README's configuration table writes it (rows naming several
    variables give their defaults in the same order, split by " / ")."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    table: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([A-Z_]+)`", cells[0])
        defaults = [d.strip() for d in cells[1].split(" / ")]
        defaults = defaults * len(names) if len(defaults) == 1 else defaults  # one default for all
        assert len(defaults) == len(names), f"README row {line!r}: one default per variable"
        table.update(zip(names, (d.replace("`", "") for d in defaults)))
    return table


def test_the_readme_documents_every_setting_with_its_default_and_nothing_else():
    documented = readme_table()
    settings = {f.metadata["env"]: f for f in fields(Settings)}
    assert sorted(set(settings) - set(documented)) == [], "settings missing from the README's table"
    assert sorted(set(documented) - set(settings)) == [], "README names variables no setting reads"
    for env, spec in settings.items():
        expected = spec.metadata["shown"] or shown_default(spec.default)
        assert documented[env] == expected, f"{env}: README says {documented[env]!r}, the code {expected!r}"


@pytest.mark.parametrize(
    ("env", "raw", "words"),
    [
        ("CRM_API_PORT", "eighty", "is not a whole number; set it to e.g. 8000"),
        ("CRM_VENDOR_FAILURE_RATE", "10%", "is not a number; set it to e.g. 0.1"),
        ("CRM_ONE_TIME_PASSWORD_HOURS", "0", "is not a number of hours between 0 and 8760"),
    ],
)
def test_a_value_that_cannot_be_read_names_the_variable_and_a_good_value(monkeypatch, env, raw, words):
    monkeypatch.setenv(env, raw)
    with pytest.raises(InvalidInput) as caught:
        load_settings()
    assert str(caught.value).startswith(f"{env}: '{raw}' {words}")


def test_values_are_read_and_blank_means_the_default(monkeypatch):
    monkeypatch.setenv("CRM_API_PORT", " 8123 ")
    monkeypatch.setenv("CRM_ALLOWED_DOMAINS", "@Corp.example, shop.example,")
    monkeypatch.setenv("CRM_GEMINI_MODEL", "  ")
    settings = load_settings()
    assert settings.api_port == 8123
    assert settings.allowed_domains == ("corp.example", "shop.example")
    assert settings.gemini_model == "gemini-3.8-flash"
    assert settings.data_dir.is_absolute()


def test_the_cli_reports_a_bad_setting_in_one_line(run_cli, monkeypatch):
    monkeypatch.setenv("CRM_DB_TIMEOUT_MS", "soon")
    result = run_cli("db", "status")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: CRM_DB_TIMEOUT_MS: 'soon' is not a whole number; set it to e.g. 2000, or unset it"
    ]
