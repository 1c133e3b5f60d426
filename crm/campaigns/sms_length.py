"""How many SMS segments a text takes: GSM-7 when every character fits, UCS-2 otherwise.

GSM 03.38: 160 septets in one message, 153 per part when concatenated; extension characters
(€, [, ] ...) take two septets. UCS-2: 70 UTF-16 units alone, 67 per part.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def sms_length(text: str) -> SmsLength:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else -(-units // part)
    return SmsLength(encoding, units, segments)


# Stand-ins in the GSM alphabet for characters people type that are not in it.
GSM7_STAND_INS = {"₹": "Rs", "“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "…": "...", "•": "-"}


def non_gsm_characters(text: str) -> list[str]:
    """The characters that make a text go as UCS-2, in the order they first appear."""
    return list(dict.fromkeys(ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION))


def with_stand_ins(text: str) -> str:
    """The text with the usual stand-ins written for characters outside the GSM alphabet."""
    return "".join(GSM7_STAND_INS.get(ch, ch) for ch in text)
