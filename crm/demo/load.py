"""Generate the demo data, validate it like any import, and write it with the one writer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crm.auth import audit
from crm.auth.permissions import Principal, requires
from crm.demo.generate import DemoSpec, generate
from crm.ingest.consent import ConsentSource
from crm.ingest.records import Kind, validate_records
from crm.ingest.writer import WriteResult, write_records
from crm.store.clock import utc_now
from crm.store.documents import Database
from crm.store.schema import ensure_indexes

# (kind, records written so far, records of that kind): drives a tqdm bar or st.progress.
LoadProgress = Callable[[str, int, int], None]


@dataclass
class DemoReport:
    spec: DemoSpec
    customers: WriteResult
    orders: WriteResult

    def summary(self) -> dict:
        return {
            "seed": self.spec.seed,
            "as_of": self.spec.as_of.isoformat(),
            "customers": self.spec.customers,
            "orders": self.spec.orders,
            "written": {"customers": vars(self.customers), "orders": vars(self.orders)},
        }


@requires("data.demo")
def load_demo(
    db: Database, spec: DemoSpec, reset: bool = False, progress: LoadProgress | None = None, *, by: Principal
) -> DemoReport:
    """Write the demo data; loading the same spec twice changes nothing the second time.

    `reset` first removes every customer and order, so the store holds exactly the demo data.
    The analytic copy follows writes but not deletions: after a reset, call
    `crm.analytics.rebuild()` (the demo command always does, so dashboards open warm).
    """
    data = generate(spec)
    results = {}
    checked = {}
    kinds: tuple[tuple[Kind, list[dict]], ...] = (("customers", data.customers), ("orders", data.orders))
    for kind, rows in kinds:
        result = validate_records(kind, rows)
        if result.errors:  # the generator's own bug: never write half a demo
            first = result.errors[0]
            raise RuntimeError(f"demo {kind} row {first.row} is invalid: {first.column}: {first.reason}")
        checked[kind] = result.valid
    if reset:
        clear_customers_and_orders(db)
    origin = ConsentSource("demo data", utc_now())
    for kind, records in checked.items():
        step = (lambda done, total, kind=kind: progress(kind, done, total)) if progress else None
        if step:
            step(0, len(records))
        results[kind] = write_records(db, kind, records, progress=step, origin=origin)
    report = DemoReport(spec=spec, customers=results["customers"], orders=results["orders"])
    audit.record(by, "data.demo", f"seed {spec.seed}", {**report.summary(), "reset": reset}, db=db)
    return report


def clear_customers_and_orders(db: Database) -> None:
    for kind in ("customers", "orders"):
        db[kind].drop()  # much faster than deleting document by document
    ensure_indexes(db)
