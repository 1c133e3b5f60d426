"""What the SMS of a campaign cost, in sentences: how many SMS will be billed, which messages
take more than one and why (too long, or a character outside the GSM alphabet that turns the
whole message into Unicode), and what to write instead to keep them to one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from crm.campaigns.sms_length import GSM7_STAND_INS, non_gsm_characters, sms_length, with_stand_ins
from crm.formats.indian_numbers import format_count


@dataclass
class SmsCost:
    """Counted over every rendered message of the pre-send check."""

    messages: int = 0
    billed: int = 0  # SMS segments over all messages
    # (segments, segments with the stand-ins written) -> messages, for messages of UCS-2 that
    # the stand-ins would shorten; and the characters to blame -> messages they appear in.
    unicode_costs: Counter[tuple[int, int]] = field(default_factory=Counter)
    blamed: dict[tuple[int, int], Counter[str]] = field(default_factory=dict)  # the same groups' characters
    long_gsm: Counter[int] = field(default_factory=Counter)  # segments -> GSM-7 messages over 160
    unicode_anyway: Counter[int] = field(default_factory=Counter)  # segments -> UCS-2 whatever we write

    def add(self, message: str) -> None:
        length = sms_length(message)
        self.messages += 1
        self.billed += length.segments
        if length.segments == 1:
            return
        if length.encoding == "GSM-7":
            self.long_gsm[length.segments] += 1
            return
        fixed = sms_length(with_stand_ins(message))
        if fixed.encoding == "GSM-7" and fixed.segments < length.segments:
            group = (length.segments, fixed.segments)
            self.unicode_costs[group] += 1
            self.blamed.setdefault(group, Counter()).update(non_gsm_characters(message))
        else:
            self.unicode_anyway[length.segments] += 1

    def sentences(self, holdout_percent: int = 0) -> list[str]:
        if not self.messages:
            return []
        of = format_count(self.messages)
        sent = round(self.billed * (100 - holdout_percent) / 100)
        billed = (
            f"about {format_count(sent)} SMS will be billed for the messages sent (the holdout gets none)"
            if holdout_percent
            else f"{format_count(self.billed)} SMS will be billed"
        )
        out = [f"{of} message(s): {billed}."]
        for (segments, fixed), n in sorted(self.unicode_costs.items()):
            chars = [c for c, _ in self.blamed[(segments, fixed)].most_common()]
            names = " and ".join(chars[:3]) + (" (and others)" if len(chars) > 3 else "")
            stand_ins = ", ".join(f"{GSM7_STAND_INS[c]} for {c}" for c in chars[:3] if c in GSM7_STAND_INS)
            verb = "is" if len(chars) == 1 else "are"
            keep = "to one" if fixed == 1 else f"to {fixed} each"
            out.append(
                f"{format_count(n)} of {of} messages need {segments} SMS each because {names} {verb} not in the "
                f"GSM alphabet (a message with one goes as Unicode, 70 characters an SMS); write {stand_ins} "
                f"to keep them {keep}."
            )
        for segments, n in sorted(self.long_gsm.items()):
            out.append(
                f"{format_count(n)} of {of} messages need {segments} SMS each: they are longer than 160 "
                "characters (153 an SMS once split)."
            )
        for segments, n in sorted(self.unicode_anyway.items()):
            out.append(
                f"{format_count(n)} of {of} messages need {segments} SMS each: they are in Unicode (70 "
                "characters an SMS, 67 once split), as messages in Indian scripts or with emoji always are."
            )
        return out
