"""The pre-send check: render every message and say what would go wrong, before anything sends.

It reports unknown placeholders and syntax errors (per template), fields that are empty for some
customers (suggesting `default`), SMS length in segments, and how many customers are excluded
for missing consent or contact details. A campaign is created only from a passing check.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from crm.campaigns.audience import COUNTED, EXCLUSIONS, NOBODY, HeldBack, columns_for, exclusion, stream
from crm.campaigns.channels import channel as get_channel
from crm.campaigns.dlt import MAX_VARIABLE, NO_DLT, VARIABLE, DltRule
from crm.campaigns.model import CampaignDraft
from crm.campaigns.sms_cost import SmsCost
from crm.campaigns.sms_length import sms_length
from crm.campaigns.templating import (
    MAX_MESSAGE_CHARS,
    CompiledTemplate,
    RenderError,
    compile_template,
    missing_fields,
    render,
    variant_for,
)
from crm.campaigns.unsubscribe import FOOTER
from crm.config import Settings, load_settings
from crm.errors import InvalidInput
from crm.store.documents import Database

LINK_ROOM = 300  # the /u/ path and a token for the longest ids
SAMPLES = 5


@dataclass(frozen=True)
class Problem:
    location: str  # "template 1", "template 2 line 3", "audience"
    message: str
    customers: int = 0  # how many customers it affects (0: the template itself)


@dataclass(frozen=True)
class Sample:
    customer_id: str
    to: str
    variant: int
    message: str


@dataclass
class CheckReport:
    as_of: date
    matched: int = 0  # customers the rule matched
    recipients: int = 0  # of them, who can be messaged on the channel
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> customers
    problems: list[Problem] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    segments: Counter[int] = field(default_factory=Counter)  # SMS segments per message -> messages
    encodings: Counter[str] = field(default_factory=Counter)  # GSM-7 / UCS-2 -> messages
    longest: int = 0  # characters of the longest rendered message
    holdout_percent: int = 0  # share of the recipients held out at random (decided at send)
    sms: SmsCost = field(default_factory=SmsCost)  # SMS to be billed, and why some take more than one

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        parts = [f"{self.recipients} of {self.matched} matched customers can be messaged"]
        parts += [f"{n} excluded: {EXCLUSIONS[reason]}" for reason, n in self.excluded.items() if n]
        if self.holdout_percent:
            parts.append(
                f"about {self.expected_holdout} of them ({self.holdout_percent}%) held out at random, not messaged, "
                "to measure what the campaign earned"
            )
        return "; ".join(parts) + "".join(f". {sentence.rstrip('.')}" for sentence in self.sms_sentences)

    @property
    def sms_sentences(self) -> list[str]:
        return self.sms.sentences(self.holdout_percent)

    @property
    def expected_holdout(self) -> int:
        """Recipients the holdout is expected to take (the exact draw is made at send)."""
        return round(self.recipients * self.holdout_percent / 100)

    def raise_if_failed(self) -> None:
        if self.problems:
            first = self.problems[0]
            more = f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
            raise InvalidInput(first.location, first.message + more)


def compile_all(templates: list[str]) -> tuple[list[CompiledTemplate | None], list[Problem]]:
    compiled: list[CompiledTemplate | None] = []
    problems: list[Problem] = []
    for i, text in enumerate(templates, start=1):
        try:
            compiled.append(compile_template(text, location=f"template {i}"))
        except InvalidInput as exc:
            compiled.append(None)
            problems.append(Problem(exc.location, exc.message))
    return compiled, problems


def check_draft(draft: CampaignDraft, held: HeldBack = NOBODY, dlt: DltRule = NO_DLT) -> CheckReport:
    """Render every message of the draft for its current audience and report; `held`: who the
    workspace's rules hold back now (`frequency.held_back_now`; the snapshot counts again);
    `dlt`: the DLT template SMS must match (`dlt.dlt_rule`)."""
    channel = get_channel(draft.channel)
    as_of = draft.as_of or datetime.now(UTC).date()
    compiled, problems = compile_all(draft.templates)
    report = CheckReport(
        as_of=as_of,
        problems=problems,
        excluded=dict.fromkeys(COUNTED, 0),
        holdout_percent=draft.holdout_percent,
    )
    fields = set().union(*(c.fields for c in compiled if c is not None))
    empty: dict[tuple[int, str], list[Any]] = {}  # (template, field) -> [customers, example id]
    off_template: Counter[int] = Counter()  # variant -> messages the DLT template does not match
    if dlt.enforced and dlt.template is None:
        report.problems.append(Problem("DLT template", _no_template(dlt)))
    render_errors: Counter[tuple[int, str]] = Counter()
    for rows in stream(draft.rules, as_of, columns_for(channel, fields)):
        for row in rows:
            report.matched += 1
            reason = exclusion(row, channel, held)
            if reason:
                report.excluded[reason] = report.excluded.get(reason, 0) + 1
                continue
            report.recipients += 1
            variant = variant_for(row["customer_id"], len(compiled))
            template = compiled[variant]
            if template is None:
                continue
            try:
                message = render(template, row)
            except RenderError as exc:
                missing = missing_fields(template, row)
                for name in missing:
                    entry = empty.setdefault((variant, name), [0, row["customer_id"]])
                    entry[0] += 1
                if not missing:
                    render_errors[(variant, str(exc))] += 1
                continue
            _measure(report, message, channel.counts_sms_segments)
            if dlt.template is not None and not dlt.template.matches(message):
                off_template[variant] += 1
            if len(report.samples) < SAMPLES:
                report.samples.append(Sample(row["customer_id"], str(row.get(channel.contact_field)), variant, message))
    for (variant, name), (count, example) in sorted(empty.items()):
        report.problems.append(
            Problem(
                f"template {variant + 1}",
                f"{{{{ {name} }}}} is empty for {count} customer(s) (e.g. {example}); "
                f'give it a default: {{{{ {name} | default("...") }}}}',
                count,
            )
        )
    for variant, count in sorted(off_template.items()):
        assert dlt.template is not None
        report.problems.append(
            Problem(
                f"template {variant + 1}",
                f"{count} message(s) do not match DLT template {dlt.template.template_id} "
                f"({dlt.template.text!r}): the operator would drop them; write its fixed text, with a value of "
                f"at most {MAX_VARIABLE} characters where {VARIABLE} is",
                count,
            )
        )
    for (variant, message), count in sorted(render_errors.items()):
        report.problems.append(
            Problem(f"template {variant + 1}", f"cannot render for {count} customer(s): {message}", count)
        )
    if report.recipients == 0:
        why = (
            "the rule matches no customers"
            if report.matched == 0
            else f"none of the {report.matched} matched customers can be messaged on {channel.label}"
        )
        report.problems.append(Problem("audience", f"nobody to send to: {why}"))
    return report


def check_in_workspace(db: Database, draft: CampaignDraft) -> CheckReport:
    """The pre-send check under the workspace's rules: its suppression lists, its frequency cap
    and its DLT templates (what compose, schedule and the page all run)."""
    from crm.campaigns.dlt import dlt_rule
    from crm.campaigns.frequency import held_back_now

    report = check_draft(draft, held_back_now(db, draft.channel), dlt_rule(db, draft.channel, draft.dlt_template_id))
    if draft.channel == "email":
        report.problems += email_link_problems(report, load_settings())
    return report


def email_link_problems(report: CheckReport, settings: Settings) -> list[Problem]:
    """What would break the unsubscribe link every email carries: a length past the vendor's
    limit once it is added, or a link customers cannot open."""
    problems = []
    room = len(FOOTER) + len(settings.public_url) + LINK_ROOM
    if report.longest + room > MAX_MESSAGE_CHARS:
        problems.append(
            Problem(
                "template",
                f"the longest email is {report.longest:,} characters; with its unsubscribe link (about {room}) it "
                f"would pass the {MAX_MESSAGE_CHARS:,} the vendor takes: shorten it",
            )
        )
    host = urlsplit(settings.public_url).hostname or ""
    if settings.vendor_url and (host in ("localhost", "127.0.0.1", "::1") or host.endswith(".localhost")):
        problems.append(
            Problem(
                "CRM_PUBLIC_URL",
                f"unsubscribe links would point to {settings.public_url}, which customers cannot open: set "
                "CRM_PUBLIC_URL to the address where the world reaches this API",
            )
        )
    return problems


def _no_template(dlt: DltRule) -> str:
    if dlt.named:
        return f"{dlt.named} is not a registered DLT template: register it in Settings → Sending rules, or pick another"
    return "SMS in India need a template registered on the DLT platform: pick one of the workspace's DLT templates"


def _measure(report: CheckReport, message: str, sms: bool) -> None:
    report.longest = max(report.longest, len(message))
    if sms:
        length = sms_length(message)
        report.segments[length.segments] += 1
        report.encodings[length.encoding] += 1
        report.sms.add(message)


def preview_messages(draft: CampaignDraft, n: int = SAMPLES) -> list[Sample | Problem]:
    """The messages the first `n` recipients would get (a problem in their place when one fails)."""
    channel = get_channel(draft.channel)
    maybe_compiled, problems = compile_all(draft.templates)
    if problems:
        return [*problems]
    compiled = [c for c in maybe_compiled if c is not None]  # all of them: no template failed
    fields = set().union(*(c.fields for c in compiled))
    out: list[Sample | Problem] = []
    for rows in stream(
        draft.rules, draft.as_of or datetime.now(UTC).date(), columns_for(channel, fields), limit=n * 20
    ):
        for row in rows:
            if exclusion(row, channel):
                continue
            variant = variant_for(row["customer_id"], len(compiled))
            try:
                out.append(
                    Sample(
                        row["customer_id"], str(row.get(channel.contact_field)), variant, render(compiled[variant], row)
                    )
                )
            except RenderError as exc:
                out.append(Problem(f"customer {row['customer_id']}", str(exc)))
            if len(out) >= n:
                return out
    return out
