"""Streamlit pages under AppTest: what a user sees and can do on each page, no browser."""
