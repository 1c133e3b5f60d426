"""Errors on a page: a clear st.error, never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from crm.errors import CRMError

log = logging.getLogger("crm.ui")


def show_error(exc: BaseException) -> None:
    if isinstance(exc, CRMError):
        st.error(str(exc), icon=":material/error:")
    else:
        log.exception("unexpected error on a page", exc_info=exc)
        st.error(
            f"Something went wrong ({type(exc).__name__}). The details are in the server log.", icon=":material/error:"
        )


@contextmanager
def errors_shown() -> Iterator[None]:
    """Turn errors raised inside into st.error (Streamlit's own stop/rerun pass through)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the one place the UI turns errors into messages
        show_error(exc)
