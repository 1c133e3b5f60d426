"""`python -m crm scheduler`: start scheduled campaigns when they are due (serve runs it).

Unless CRM_VENDOR_URL names a vendor, this process hosts the mock vendor and the receipt
endpoint (`crm.api.local_host`) once it starts a campaign, as `campaign send` does. Any number of
schedulers may run on one database: the dispatch lease lets one of them start each campaign.
"""

from __future__ import annotations

import logging
import signal
import threading

DRAIN_SECONDS = 10  # serve waits 15 s for a child to stop


def register(sub) -> None:
    parser = sub.add_parser("scheduler", help="start scheduled campaigns when they are due")
    parser.add_argument(
        "--interval", type=float, default=5.0, metavar="SECONDS", help="seconds between due checks (default 5)"
    )
    parser.set_defaults(handler=scheduler_command)


def scheduler_command(args) -> int:
    from crm.api.local_host import drain_hosts, endpoints, stop_hosts
    from crm.campaigns.scheduler import Scheduler
    from crm.config import load_settings
    from crm.store import get_db

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = load_settings()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    scheduler = Scheduler(
        get_db(settings), settings, lambda: endpoints(settings).vendor_url, interval=max(0.1, args.interval)
    )
    print(f"scheduler {scheduler.owner} checking every {scheduler.interval:g} s", flush=True)
    try:
        scheduler.run(stop)
        drain_hosts(DRAIN_SECONDS)  # the in-process mock vendor posts the receipts it still owes
    finally:
        stop_hosts()
    return 0
