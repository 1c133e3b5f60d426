"""Streamlit helpers shared by every page: the user guard, database access, errors, formatting."""
