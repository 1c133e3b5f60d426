"""The database from a page: one client per process, and a version to key cached results on."""

from __future__ import annotations

import streamlit as st
from pymongo.errors import PyMongoError

from crm.config import load_settings
from crm.errors import CRMError
from crm.segment_engine.catalogue import Catalogue
from crm.store.data_version import data_version
from crm.store.documents import Database
from crm.ui.errors import show_error


@st.cache_resource(show_spinner="Starting the database...")
def _database(mongodb_uri: str | None, data_dir: str, db_name: str) -> Database:
    from crm.store import get_db

    return get_db(load_settings())


def get_database() -> Database:
    """The app's database; a page that cannot reach it shows why and stops."""
    settings = load_settings()
    try:
        return _database(settings.mongodb_uri, str(settings.data_dir), settings.db_name)
    except (CRMError, PyMongoError) as exc:
        show_error(f"The database is not available: {exc}")
        st.stop()


def current_version(db: Database) -> tuple:
    """Cache key part that changes whenever customers or orders change."""
    return data_version(db)


def workspace_fields() -> Catalogue:
    """The fields rules may name on these pages: the built-in ones and the workspace's custom
    attributes, as the analytic copy (which counts the rules) loaded them."""
    from crm.analytics.analytic_copy import open_copy

    return open_copy().catalogue
