"""`python -m crm bench [NAME]`: benchmarks that print one JSON line each.

Each benchmark is a module of `crm.bench` with `add_arguments(parser)` (its options, with
defaults the targets are measured at) and `run(args) -> dict` (figures, including ratios against
a baseline measured in the same run). Without a NAME every benchmark runs with its defaults.
A benchmark's module (and what it needs: DuckDB, polars, uvicorn...) is imported only when it
runs, so other commands start without them; its options are read then too.
"""

from __future__ import annotations

import argparse
import importlib
import json

# name: (module, what it measures)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "import": ("crm.bench.imports", "CSV import rate against plain insert_many and DuckDB's CSV reader"),
    "api": ("crm.bench.api", "accepted orders/s over HTTP: batches of 1 and of 1,000, direct vs Redis mode"),
    "preview": ("crm.bench.preview", "segment preview speed against polars and pandas"),
    "campaign": ("crm.bench.campaign", "campaign send end to end, and receipts/s batched vs one by one"),
    "results": ("crm.bench.results", "time to compute a campaign's results (attribution + lift) against pandas"),
    "nl": ("crm.bench.nl", "accuracy of sentence -> rule on the evaluation set"),
}


def register(sub) -> None:
    parser = sub.add_parser("bench", help="run benchmarks (JSON results)")
    names = parser.add_subparsers(dest="bench_name", metavar="NAME")
    for name, (_, summary) in BENCHMARKS.items():
        bench = names.add_parser(name, help=summary, add_help=False)  # --help is the benchmark's own
        bench.set_defaults(handler=bench_command, reads_own_options=True)
    parser.set_defaults(handler=bench_command)


def bench_command(args) -> int:
    chosen = [args.bench_name] if args.bench_name else list(BENCHMARKS)
    for name in chosen:
        module_name, summary = BENCHMARKS[name]
        module = importlib.import_module(module_name)
        parser = argparse.ArgumentParser(prog=f"python -m crm bench {name}", description=summary)
        module.add_arguments(parser)
        # Without a NAME, every benchmark runs with its own defaults.
        bench_args = parser.parse_args(args.left_over if args.bench_name else [])
        print(json.dumps({"bench": name, **module.run(bench_args)}), flush=True)
    return 0
