"""`python -m crm api | worker | apikey ... | deadletter ...`: the REST API and its queue."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time

from crm.config import load_settings


def register(sub) -> None:
    api = sub.add_parser("api", help="run the REST API (uvicorn)")
    api.add_argument("--host", help="address to listen on (default CRM_API_HOST)")
    api.add_argument("--port", type=int, help="port (default CRM_API_PORT)")
    api.set_defaults(handler=api_command)

    worker = sub.add_parser(
        "worker", help="write queued API batches from Redis Streams to MongoDB, and start scheduled campaigns"
    )
    worker.add_argument(
        "--no-scheduler", action="store_true", help="do not start scheduled campaigns (serve runs its own scheduler)"
    )
    worker.set_defaults(handler=worker_command)

    keys = sub.add_parser("apikey", help="create, list and revoke API keys").add_subparsers(
        dest="apikey_command", required=True
    )
    create = keys.add_parser("create", help="create a key; the last line printed is the key, shown once")
    create.add_argument("name")
    create.set_defaults(handler=apikey_create)
    keys.add_parser("list", help="name, prefix, created, last used, revoked").set_defaults(handler=apikey_list)
    revoke = keys.add_parser("revoke", help="revoke a key by name or prefix")
    revoke.add_argument("name_or_prefix")
    revoke.set_defaults(handler=apikey_revoke)

    dead = sub.add_parser("deadletter", help="batches the worker could not write").add_subparsers(
        dest="deadletter_command", required=True
    )
    show = dead.add_parser("list", help="one JSON line per dead-lettered batch")
    show.add_argument("--limit", type=int, default=100)
    show.set_defaults(handler=deadletter_list)
    replay = dead.add_parser("replay", help="queue dead-lettered batches again (all, or the ids given)")
    replay.add_argument("ids", nargs="*", metavar="ID")
    replay.set_defaults(handler=deadletter_replay)


def api_command(args) -> int:
    import uvicorn

    from crm.api.access_log import log_config
    from crm.api.app import create_app
    from crm.store import claim_database

    settings = load_settings()
    # Before uvicorn: a data dir that cannot be used, or whose database another process runs
    # (and would take down with it), is refused in one line rather than a startup traceback.
    claim_database(settings)
    host, port = args.host or settings.api_host, args.port or settings.api_port
    mode = "queued through Redis" if settings.redis_url else "written directly"
    print(f"Mini CRM API on http://{host}:{port} (docs at /docs; batches {mode})", flush=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", log_config=log_config())
    return 0


def worker_command(args) -> int:
    import redis

    from crm.ingest.streams import Worker
    from crm.store import get_db

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = load_settings()
    worker = Worker.from_settings(get_db(settings), settings)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    worker.ensure_group()
    print(f"worker {worker.consumer} reading {worker.keys.stream} as group {worker.keys.group}", flush=True)
    if not args.no_scheduler:
        _start_scheduler(settings, stop)
    last_report, reported, backoff = time.monotonic(), None, 0.5
    while not stop.is_set():
        try:
            worker.step()
            backoff = 0.5
        except redis.RedisError as exc:  # Redis restarting: entries wait in the stream meanwhile
            print(f"Redis error: {exc}; retrying in {backoff:.1f} s", file=sys.stderr, flush=True)
            stop.wait(backoff)
            backoff = min(backoff * 2, 30)
            continue
        if time.monotonic() - last_report > 10 and reported != worker.stats:
            reported = worker.stats.__dict__.copy()
            print(json.dumps({"worker": worker.consumer, **reported}), flush=True)
            last_report = time.monotonic()
    print(json.dumps({"worker": worker.consumer, "stopped": True, **worker.stats.__dict__}), flush=True)
    return 0


def _start_scheduler(settings, stop: threading.Event) -> None:
    """The campaign scheduler in a thread beside the worker: any number may run (the lease picks
    one per campaign); a campaign it starts is sent from this process."""
    from crm.api.local_host import endpoints
    from crm.campaigns.scheduler import Scheduler
    from crm.store import get_db

    scheduler = Scheduler(get_db(settings), settings, lambda: endpoints(settings).vendor_url)
    scheduler.start(stop)
    print(f"scheduler {scheduler.owner} checking every {scheduler.interval:g} s", flush=True)


def apikey_create(args) -> int:
    from crm.auth import CLI, api_keys
    from crm.store import get_db

    record, key = api_keys.create(CLI, args.name, db=get_db())  # checked and audited like the UI
    print(f"created API key {record.name!r} (prefix {record.prefix}); it is shown only once:")
    print(key)
    return 0


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def apikey_list(args) -> int:
    from crm.auth.api_keys import list_keys
    from crm.store import get_db

    keys = list_keys(get_db())
    if not keys:
        print("no API keys; create one with `python -m crm apikey create NAME`")
        return 0
    rows = [("NAME", "PREFIX", "CREATED", "LAST USED", "REVOKED")]
    rows += [(k.name, k.prefix, _when(k.created_at), _when(k.last_used_at), _when(k.revoked_at)) for k in keys]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def apikey_revoke(args) -> int:
    from crm.auth import CLI, api_keys
    from crm.store import get_db

    key = api_keys.revoke(CLI, args.name_or_prefix, db=get_db())
    print(f"revoked API key {key.name!r} (prefix {key.prefix})")
    return 0


def _stream_keys():
    from crm.ingest.redis_queue import StreamKeys, redis_client

    settings = load_settings()
    return redis_client(settings), StreamKeys(settings.stream_prefix)


def deadletter_list(args) -> int:
    from crm.ingest.dead_letters import list_dead_letters

    client, keys = _stream_keys()
    entries = list_dead_letters(client, keys, args.limit)
    for entry in entries:
        print(json.dumps(entry, ensure_ascii=False))
    if not entries:
        print(f"the dead-letter stream {keys.dead_letter} is empty")
    return 0


def deadletter_replay(args) -> int:
    from crm.ingest.dead_letters import replay_dead_letters

    client, keys = _stream_keys()
    new_ids = replay_dead_letters(client, keys, args.ids)
    print(json.dumps({"replayed": len(new_ids), "entry_ids": new_ids}))
    return 0
