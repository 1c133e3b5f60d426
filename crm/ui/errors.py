"""Errors on a page, one way: what we raise or find is shown in our words with one icon, and
anything unexpected as one sentence pointing at the server log, never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from crm.errors import CRMError

log = logging.getLogger("crm.ui")


def show_error(problem: BaseException | str) -> None:
    """A problem found on the page (text, with any data in it already escaped) or raised by the
    core (our errors, or any other)."""
    if isinstance(problem, str | CRMError):
        st.error(str(problem), icon=":material/error:")
    else:
        log.exception("unexpected error on a page", exc_info=problem)
        st.error(
            f"Something went wrong ({type(problem).__name__}). The details are in the server log.",
            icon=":material/error:",
        )


@contextmanager
def errors_shown() -> Iterator[None]:
    """Turn errors raised inside into show_error (Streamlit's own stop/rerun pass through)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the one place the UI turns errors into messages
        show_error(exc)
