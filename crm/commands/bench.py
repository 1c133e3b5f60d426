"""`python -m crm bench [NAME]`: benchmarks that print one JSON line each.

Each benchmark is a module listed in BENCHMARKS with `add_arguments(parser)` (its options, with
defaults the targets are measured at) and `run(args) -> dict` (figures, including ratios against
a baseline measured in the same run). Without a NAME every benchmark runs with its defaults.
"""

from __future__ import annotations

import argparse
import importlib
import json

BENCHMARKS: dict[str, str] = {
    "import": "crm.ingest.bench_import",
    "api": "crm.api.bench_api",
    "preview": "crm.analytics.bench_preview",
    "campaign": "crm.campaigns.bench_campaign",
    "nl": "crm.ai.bench_nl",
}


def register(sub) -> None:
    parser = sub.add_parser("bench", help="run benchmarks (JSON results)")
    names = parser.add_subparsers(dest="bench_name", metavar="NAME")
    for name, module_name in BENCHMARKS.items():
        module = importlib.import_module(module_name)
        bench = names.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(bench)
        bench.set_defaults(handler=bench_command)
    parser.set_defaults(handler=bench_command)


def bench_command(args) -> int:
    chosen = [args.bench_name] if args.bench_name else list(BENCHMARKS)
    for name in chosen:
        module = importlib.import_module(BENCHMARKS[name])
        if not args.bench_name:  # run with the benchmark's own defaults
            parser = argparse.ArgumentParser()
            module.add_arguments(parser)
            bench_args = parser.parse_args([])
        else:
            bench_args = args
        print(json.dumps({"bench": name, **module.run(bench_args)}), flush=True)
    return 0
