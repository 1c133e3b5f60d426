"""The accent colour is named once in code and once in Streamlit's theme: they must agree, or the
charts would not match the buttons and links around them."""

import re
import tomllib

from crm.ui import theme
from tests.support import ROOT


def test_streamlits_primary_colour_is_the_charts_accent():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["theme"]["primaryColor"] == theme.ACCENT


def test_no_page_writes_a_colour_of_its_own():
    written = {
        path.name: re.findall(r"#[0-9a-fA-F]{6}\b", path.read_text())
        for path in [*(ROOT / "app_pages").glob("*.py"), ROOT / "app.py"]
    }
    assert {name: colours for name, colours in written.items() if colours} == {}
