"""The NL -> rule evaluation: phrasings with hand-written expected rules, scored by audience equality
on a fixed deterministic dataset (the demo generator with a fixed seed and date, in DuckDB).

A proposal counts as right when it selects exactly the customers the expected rule selects, so
two different rules that mean the same thing on the data both score.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb

from crm.ai.facts import DataFacts, data_facts
from crm.ai.nl_rules import Proposal
from crm.errors import CRMError
from crm.segment_engine import build_features, compile_rule, create_base_tables, insert_records, parse_rule

CASES_FILE = Path(__file__).resolve().parents[2] / "tests" / "nl_eval" / "cases.jsonl"
AS_OF = date(2025, 6, 30)
SEED, CUSTOMERS, ORDERS = 7, 400, 3_000


@dataclass(frozen=True)
class Case:
    line: int
    text: str
    expected: dict
    set: str = "tuned"  # "holdout": written after the parser was tuned, never tuned on


@dataclass(frozen=True)
class Outcome:
    case: Case
    correct: bool
    engine: str
    got: dict | None
    note: str = ""


def load_cases(path: Path = CASES_FILE) -> list[Case]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            item = json.loads(line)
            cases.append(Case(number, item["text"], item["expected"], item.get("set", "tuned")))
    return cases


def eval_dataset() -> duckdb.DuckDBPyConnection:
    """The fixed dataset in an in-memory DuckDB, with `customer_features` built."""
    from crm.demo import DemoSpec, generate

    data = generate(DemoSpec(customers=CUSTOMERS, orders=ORDERS, seed=SEED, as_of=AS_OF))
    con = duckdb.connect(":memory:")
    create_base_tables(con)
    insert_records(
        con,
        "customers",
        [
            {
                **{k: v for k, v in c.items() if k != "consent"},
                **{f"consent_{channel}": agreed for channel, agreed in c["consent"].items()},
            }
            for c in data.customers
        ],
    )
    insert_records(con, "orders", [{**o, "amount": int(Decimal(o["amount"]) * 100)} for o in data.orders])
    build_features(con)
    return con


def audience(con: duckdb.DuckDBPyConnection, rule, as_of: date = AS_OF) -> frozenset[str]:
    compiled = compile_rule(parse_rule(rule), as_of)
    sql = f"SELECT f.customer_id FROM {compiled.from_sql} WHERE ({compiled.where_sql})"
    return frozenset(r[0] for r in con.execute(sql, compiled.from_params + compiled.params).fetchall())


def evaluate(
    cases: list[Case],
    propose: Callable[[str, date, DataFacts], Proposal],
    con: duckdb.DuckDBPyConnection | None = None,
    progress: bool = False,
) -> dict:
    """Run `propose` on every case; accuracy, counts and the cases it got wrong."""
    con = con or eval_dataset()
    facts = data_facts(con)
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    iterator = cases
    if progress:
        from tqdm import tqdm

        iterator = tqdm(cases, desc="nl eval", unit="case", leave=False)
    for case in iterator:
        expected = audience(con, case.expected)
        try:
            proposal = propose(case.text, AS_OF, facts)
        except CRMError as exc:
            outcomes.append(Outcome(case, False, "error", None, str(exc)))
            continue
        if proposal.rule is None:
            outcomes.append(Outcome(case, False, proposal.engine, None, "; ".join(proposal.notes)))
            continue
        got = audience(con, proposal.rule)
        outcomes.append(
            Outcome(
                case,
                got == expected,
                proposal.engine,
                proposal.rule.to_json(),
                "" if got == expected else f"{len(got)} customers, expected {len(expected)}",
            )
        )
    seconds = time.perf_counter() - started
    correct = sum(o.correct for o in outcomes)
    engines = sorted({o.engine for o in outcomes})
    by_set = {}
    for name in sorted({o.case.set for o in outcomes}):
        part = [o for o in outcomes if o.case.set == name]
        by_set[name] = {"cases": len(part), "accuracy": round(sum(o.correct for o in part) / len(part), 4)}
    return {
        "cases": len(cases),
        "correct": correct,
        "accuracy": round(correct / len(cases), 4) if cases else 0.0,
        "by_set": by_set,
        "engines": engines,
        "ms_per_case": round(1000 * seconds / len(cases), 2) if cases else 0.0,
        "wrong": [
            {"line": o.case.line, "text": o.case.text, "got": o.got, "why": o.note} for o in outcomes if not o.correct
        ],
    }
