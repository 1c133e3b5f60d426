"""The channels a campaign can use: which contact field and which consent each one needs."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Channel:
    name: str
    label: str
    contact_field: str  # customer column holding the address
    consent_field: str  # customer column saying they agreed to this channel
    counts_sms_segments: bool = False


CHANNELS = MappingProxyType(
    {
        c.name: c
        for c in (
            Channel("sms", "SMS", "phone", "consent_sms", counts_sms_segments=True),
            Channel("email", "Email", "email", "consent_email"),
            Channel("whatsapp", "WhatsApp", "phone", "consent_whatsapp"),
        )
    }
)


def channel(name: str) -> Channel:
    from crm.errors import InvalidInput

    try:
        return CHANNELS[(name or "").strip().lower()]
    except KeyError:
        raise InvalidInput("channel", f"unknown channel {name!r}; choose {', '.join(CHANNELS)}") from None
