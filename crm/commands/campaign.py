"""`python -m crm campaign send|resume|stats|results|list|cancel|reschedule`: campaigns from the
command line.

send, resume and stats end with one JSON line: {"campaign_id", "audience", "sent", "delivered",
"failed", "pending", "holdout"} (audience counts the messaged, not the holdout); when messages
still wait for their receipt, a line on stderr says how many and how to settle them
(`resume --wait`). Unless CRM_VENDOR_URL names a vendor, this process hosts the mock vendor and
the receipt endpoint itself (see `crm.api.local_host`); without `--wait` it still stays until
the vendor has posted the receipts it owes, after printing the JSON line. `results` prints one
JSON object: what the campaign earned (crm.campaigns.results).

`send --at TIME` checks and creates the campaign scheduled instead of sending it, and prints one
JSON line {"campaign_id", "status": "scheduled", "scheduled_at" (UTC ISO)}; the scheduler of
`serve` (or `python -m crm scheduler`) starts it then, and its audience is taken at that moment.
`list` prints one JSON line per campaign, newest first; `cancel` and `reschedule` change a
scheduled campaign until it starts.
"""

from __future__ import annotations

import json
import sys

from crm.errors import InvalidInput

DRAIN_SECONDS = 60
AT_HELP = (
    'when to start sending: "YYYY-MM-DD HH:MM" in the workspace time zone (CRM_TIME_ZONE, Asia/Kolkata '
    "unless set) or ISO 8601 with an offset; the audience is taken when sending starts"
)


def register(sub) -> None:
    parser = sub.add_parser("campaign", help="send campaigns and read their counters")
    actions = parser.add_subparsers(dest="campaign_command", required=True, metavar="ACTION")

    send = actions.add_parser("send", help="check, create and send a campaign to a segment's audience")
    send.add_argument("rules", metavar="RULES.json", help="segment rule file (JSON)")
    send.add_argument("--name", required=True, help="campaign name")
    send.add_argument(
        "--message",
        required=True,
        action="append",
        metavar="TEMPLATE",
        help="message template, e.g. 'Hi {{ first_name | default(\"there\") }}'; "
        "repeat for variants (customers are split between them)",
    )
    send.add_argument("--channel", default="sms", choices=["sms", "email", "whatsapp"], help="default: sms")
    send.add_argument("--objective", default="", help="what the campaign is for")
    send.add_argument("--as-of", metavar="DATE", help="evaluation date of the rule, YYYY-MM-DD (default: today)")
    send.add_argument(
        "--holdout",
        type=int,
        default=0,
        metavar="PCT",
        help="hold out PCT%% of the recipients at random (0-50, default 0): never messaged, they show "
        "what the campaign earned (10 is a good start)",
    )
    send.add_argument(
        "--window-days",
        type=int,
        default=7,
        metavar="N",
        help="a completed order within N days of the message counts as a conversion (1-90, default 7)",
    )
    send.add_argument("--wait", action="store_true", help="return when no message is pending")
    send.add_argument("--at", metavar="TIME", help=AT_HELP + "; schedules the campaign instead of sending it now")
    send.set_defaults(handler=send_command)

    listing = actions.add_parser("list", help="one JSON line per campaign, newest first (scheduled ones too)")
    listing.add_argument("--limit", type=int, default=200, help="at most this many (default 200)")
    listing.set_defaults(handler=list_command)

    cancel = actions.add_parser("cancel", help="cancel a scheduled campaign before it starts")
    cancel.add_argument("campaign_id", metavar="CAMPAIGN_ID")
    cancel.set_defaults(handler=cancel_command)

    reschedule = actions.add_parser("reschedule", help="move a scheduled campaign to another time before it starts")
    reschedule.add_argument("campaign_id", metavar="CAMPAIGN_ID")
    reschedule.add_argument("--at", required=True, metavar="TIME", help=AT_HELP)
    reschedule.set_defaults(handler=reschedule_command)

    resume = actions.add_parser("resume", help="continue sending a campaign that was interrupted")
    resume.add_argument("campaign_id", metavar="CAMPAIGN_ID")
    resume.add_argument("--wait", action="store_true", help="return when no message is pending")
    resume.set_defaults(handler=resume_command)

    stats = actions.add_parser("stats", help="print a campaign's counters as JSON")
    stats.add_argument("campaign_id", metavar="CAMPAIGN_ID")
    stats.set_defaults(handler=stats_command)

    results = actions.add_parser(
        "results", help="print what a campaign earned: conversions, revenue and lift against its holdout (JSON)"
    )
    results.add_argument("campaign_id", metavar="CAMPAIGN_ID")
    results.set_defaults(handler=results_command)


def send_command(args) -> int:
    from crm.auth import CLI
    from crm.campaigns import CampaignDraft, compose_campaign
    from crm.commands.segment import parse_as_of, read_rule
    from crm.store import get_db

    group = read_rule(args.rules)
    draft = CampaignDraft.build(
        name=args.name,
        objective=args.objective,
        channel=args.channel,
        templates=args.message,
        rules=group.to_json(),
        as_of=parse_as_of(args.as_of),
        holdout_percent=args.holdout,
        window_days=args.window_days,
        catalogue=group.fields,
    )
    if args.at is not None:
        return _schedule(draft, args)
    db = get_db()
    campaign, report = compose_campaign(db, CLI, draft)
    print(f"campaign {campaign.id} {campaign.name!r}: {report.summary()}", file=sys.stderr, flush=True)
    return _send(db, campaign.id, args.wait)


def _schedule(draft, args) -> int:
    from crm.auth import CLI
    from crm.campaigns.schedule import in_zone, parse_send_time, schedule_campaign
    from crm.config import load_settings
    from crm.store import get_db

    if args.wait:
        raise InvalidInput("--wait", "a scheduled campaign is sent later; follow it with `campaign stats ID`")
    zone = load_settings().time_zone
    at = parse_send_time(args.at, zone)
    campaign, report = schedule_campaign(get_db(), CLI, draft, at, zone=zone)
    assert campaign.scheduled_at is not None
    print(
        f"campaign {campaign.id} {campaign.name!r} scheduled for {in_zone(campaign.scheduled_at, zone)}; "
        f"checked now: {report.summary()}; the audience is taken when sending starts",
        file=sys.stderr,
        flush=True,
    )
    _print_schedule(campaign)
    return 0


def list_command(args) -> int:
    from crm.campaigns import list_campaigns
    from crm.store import get_db

    for c in list_campaigns(get_db(), limit=max(1, args.limit)):
        row = {
            "campaign_id": c.id,
            "name": c.name,
            "status": c.status,
            "channel": c.channel,
            "owner": c.owner,
            "created_at": _iso(c.created_at),
            "scheduled_at": _iso(c.scheduled_at),
            "started_at": _iso(c.started_at),
            "finished_at": _iso(c.finished_at),
            "cancelled_at": _iso(c.cancelled_at),
            "audience": c.audience,
            **{k: c.counters.get(k) for k in ("delivered", "failed", "pending")},
        }
        print(json.dumps(row, ensure_ascii=False))
    return 0


def cancel_command(args) -> int:
    from crm.auth import CLI
    from crm.campaigns.schedule import cancel_campaign
    from crm.store import get_db

    campaign = cancel_campaign(get_db(), CLI, args.campaign_id.strip())
    _print_schedule(campaign)
    return 0


def reschedule_command(args) -> int:
    from crm.auth import CLI
    from crm.campaigns.schedule import parse_send_time, reschedule_campaign
    from crm.config import load_settings
    from crm.store import get_db

    zone = load_settings().time_zone
    at = parse_send_time(args.at, zone)
    campaign = reschedule_campaign(get_db(), CLI, args.campaign_id.strip(), at, zone=zone)
    _print_schedule(campaign)
    return 0


def _print_schedule(campaign) -> None:
    """The one JSON line of send --at, cancel and reschedule."""
    line = {"campaign_id": campaign.id, "status": campaign.status, "scheduled_at": _iso(campaign.scheduled_at)}
    print(json.dumps(line), flush=True)


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def resume_command(args) -> int:
    from crm.campaigns import get_campaign
    from crm.store import get_db

    db = get_db()
    campaign = get_campaign(db, args.campaign_id)  # NotFound before anything starts
    return _send(db, campaign.id, args.wait)


def _send(db, campaign_id: str, wait: bool) -> int:
    from tqdm import tqdm

    from crm.api.local_host import drain_hosts, endpoints, stop_hosts
    from crm.auth import CLI
    from crm.campaigns import get_campaign, send_campaign, wait_until_settled
    from crm.config import load_settings

    bars: dict[str, tqdm] = {}

    def progress(phase: str, n: int) -> None:
        if phase not in bars:
            campaign = get_campaign(db, campaign_id)
            if phase == "snapshot":  # counts every matched customer, excluded ones too
                bars[phase] = tqdm(total=campaign.matched, desc="snapshot", unit="customer", file=sys.stderr)
            else:  # a resumed campaign starts part-way
                pending = db.communication_log.count_documents({"campaign_id": campaign_id, "status": "PENDING"})
                bars[phase] = tqdm(
                    total=campaign.audience,
                    initial=max(0, campaign.audience - pending - n),
                    desc="sending",
                    unit="msg",
                    file=sys.stderr,
                )
        bars[phase].update(n)

    try:
        settings = load_settings()
        stats = send_campaign(db, CLI, campaign_id, endpoints(settings).vendor_url, settings, progress=progress)
        for bar in bars.values():
            bar.close()
        if wait:
            with tqdm(total=stats.audience, desc="receipts", unit="msg", file=sys.stderr) as bar:

                def settled(s) -> None:
                    bar.update(s.delivered + s.failed - bar.n)

                stats = wait_until_settled(db, campaign_id, settled)
        print(json.dumps(stats.model_dump()), flush=True)
        _outstanding(db, stats)
        drain_hosts(DRAIN_SECONDS)  # the in-process mock vendor posts what it still owes
    finally:
        stop_hosts()
    return 0


def stats_command(args) -> int:
    from crm.campaigns import campaign_stats
    from crm.store import get_db

    if not args.campaign_id.strip():
        raise InvalidInput("CAMPAIGN_ID", "give the id printed by `campaign send`")
    db = get_db()
    stats = campaign_stats(db, args.campaign_id.strip())
    print(json.dumps(stats.model_dump()))
    _outstanding(db, stats)
    return 0


def _outstanding(db, stats) -> None:
    """On stderr: the campaign's state when some messages still wait for their receipt."""
    from crm.campaigns import get_campaign
    from crm.campaigns.model import status_label

    if stats.pending:
        label = status_label(get_campaign(db, stats.campaign_id).status, stats.pending)
        print(
            f"campaign {stats.campaign_id}: {label}; `python -m crm campaign resume {stats.campaign_id} --wait` "
            "settles them",
            file=sys.stderr,
            flush=True,
        )


def results_command(args) -> int:
    from crm.campaigns.results import campaign_results
    from crm.store import get_db

    results = campaign_results(get_db(), args.campaign_id)
    if results is None:
        raise InvalidInput("CAMPAIGN_ID", f"campaign {args.campaign_id} has not started sending: no results yet")
    print(json.dumps(results.as_json(), ensure_ascii=False))
    return 0
