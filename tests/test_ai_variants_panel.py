"""The message-variants panel (AppTest): variants with tone, SMS length and engine; "Use" puts one
in the message box, where it can be edited."""

from __future__ import annotations

import os

import pytest
from streamlit.testing.v1 import AppTest


def compose_script():
    import streamlit as st

    from crm.ui.message_variants import message_variants_panel

    message_variants_panel("Customers whose last order was more than 90 days ago", "sms", "compose-message")
    st.text_area("Message", key="compose-message")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    for key in list(os.environ):
        if key.startswith(("GOOGLE_", "GEMINI_", "CRM_GEMINI_")):
            monkeypatch.delenv(key)


def test_variants_are_offered_with_tone_length_and_engine_and_one_can_be_used_and_edited():
    at = AppTest.from_function(compose_script, default_timeout=60).run()
    at.text_input(key="variants-objective").input("win back inactive users")
    [b for b in at.button if b.label == "Suggest variants"][0].click()
    at.run()
    assert not at.exception and not at.error
    assert "Answered offline (the built-in parser) · template kind: win-back" in [c.value for c in at.caption]
    tones = [m.value for m in at.markdown]
    assert tones == ["**Warm**", "**Urgent**", "**Playful**"]
    assert sum("1 SMS segment (GSM-7)" in c.value for c in at.caption) == 3
    assert at.text_area(key="compose-message").value == ""  # nothing chosen yet
    at.button(key="variant-use-1").click()
    at.run()
    chosen = at.text_area(key="compose-message").value
    assert chosen == at.code[1].value and "comeback offer" in chosen
    at.text_area(key="compose-message").input(chosen + " T&C apply.")
    at.run()
    assert at.text_area(key="compose-message").value.endswith("T&C apply.")
