"""Pages show problems one way: through crm.ui.errors, so every error has the same look and an
unexpected one never shows a stack trace. A page writing st.error itself would bypass both."""

import re

from tests.support import ROOT


def test_only_the_error_module_writes_st_error():
    sources = [*(ROOT / "app_pages").glob("*.py"), *(ROOT / "crm" / "ui").glob("*.py"), ROOT / "app.py"]
    writers = {
        path.relative_to(ROOT).as_posix(): len(re.findall(r"\bst\.error\(", path.read_text()))
        for path in sources
        if path.name != "errors.py"
    }
    assert {name: count for name, count in writers.items() if count} == {}
