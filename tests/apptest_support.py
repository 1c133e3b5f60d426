"""What every Streamlit AppTest page test checks after a run."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def no_failures(at: AppTest) -> None:
    """The page ran without an exception and shows no error box."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def no_exception(at: AppTest) -> None:
    """The page ran without an exception (for steps whose error boxes the test reads next)."""
    assert not at.exception, [e.value for e in at.exception]
