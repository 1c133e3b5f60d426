"""Accuracy of sentence -> rule on the evaluation set (offline parser, and Gemini when a key is set).

Scored by audience equality on a fixed demo dataset; see `crm.bench.nl_eval`. Prints accuracy per
engine, Gemini's against the offline parser's as a ratio, and the cases each got wrong.
"""

from __future__ import annotations

from pathlib import Path

from crm.ai.client import gemini_client
from crm.ai.nl_rules import Proposal, rule_from_gemini, rule_from_offline
from crm.bench.nl_eval import CASES_FILE, eval_dataset, evaluate, load_cases


def add_arguments(parser) -> None:
    parser.add_argument(
        "--cases", default=str(CASES_FILE), metavar="FILE.jsonl", help="evaluation cases (default: the committed set)"
    )
    parser.add_argument("--offline-only", action="store_true", help="skip Gemini even when a key is set")
    parser.add_argument("--show-wrong", type=int, default=10, metavar="N", help="list at most N wrong cases per engine")


def run(args) -> dict:
    cases = load_cases(Path(args.cases))
    con = eval_dataset()
    offline = evaluate(cases, rule_from_offline, con, progress=True)
    result = {"cases": len(cases), "offline": _summary(offline, args.show_wrong)}
    client = None if args.offline_only else gemini_client()
    if client is None:
        result["gemini"] = "skipped (GEMINI_API_KEY unset)" if not args.offline_only else "skipped"
        return result

    def ask_gemini(text, today, facts):
        # No fallback here: a Gemini failure counts against Gemini.
        return Proposal(rule_from_gemini(client, text, today, facts), client.model)

    gemini = evaluate(cases, ask_gemini, con, progress=True)
    result["gemini"] = {"model": client.model, **_summary(gemini, args.show_wrong)}
    result["gemini_vs_offline_accuracy"] = (
        round(gemini["accuracy"] / offline["accuracy"], 3) if offline["accuracy"] else None
    )
    return result


def _summary(report: dict, show: int) -> dict:
    return {k: report[k] for k in ("accuracy", "correct", "by_set", "ms_per_case")} | {"wrong": report["wrong"][:show]}
