"""Generate the demo data, validate it like any import, and write it with the one writer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crm import analytics
from crm.auth import audit
from crm.auth.permissions import Principal, requires
from crm.demo.campaign import DEMO_OWNER, DemoCampaign, add_demo_campaign, campaign_id_for
from crm.demo.generate import DemoSpec, generate
from crm.ingest.consent import ConsentSource
from crm.ingest.records import Kind, validate_records
from crm.ingest.writer import WriteResult, write_records
from crm.store.clock import utc_now
from crm.store.documents import Database

# (kind, records written so far, records of that kind): drives a tqdm bar or st.progress. The last
# step, "campaign" (0 of 1, then 1 of 1), rebuilds the analytic copy and adds the demo campaign.
CLEAR_BATCH = 5_000
LoadProgress = Callable[[str, int, int], None]


@dataclass
class DemoReport:
    spec: DemoSpec
    customers: WriteResult
    orders: WriteResult
    campaign: DemoCampaign | None = None

    def summary(self) -> dict:
        return {
            "seed": self.spec.seed,
            "as_of": self.spec.as_of.isoformat(),
            "customers": self.spec.customers,
            "orders": self.spec.orders,
            "written": {"customers": vars(self.customers), "orders": vars(self.orders)},
            "campaign": self.campaign.summary() if self.campaign else None,
        }


@requires("data.demo")
def load_demo(
    db: Database, spec: DemoSpec, reset: bool = False, progress: LoadProgress | None = None, *, by: Principal
) -> DemoReport:
    """Write the demo data; loading the same spec twice changes nothing the second time.

    `reset` first removes every customer and order (and the demo campaign), so the store holds
    exactly the demo data. The analytic copy is rebuilt after the write (it follows writes but
    not deletions), so dashboards open warm and the demo campaign's audience is today's data.
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
        remove_demo_campaign(db, spec)
    origin = ConsentSource("demo data", utc_now())
    for kind, records in checked.items():
        step = (lambda done, total, kind=kind: progress(kind, done, total)) if progress else None
        if step:
            step(0, len(records))
        results[kind] = write_records(db, kind, records, progress=step, origin=origin)
    if progress:
        progress("campaign", 0, 1)
    analytics.rebuild()
    campaign = add_demo_campaign(db, spec, origin) if spec.campaign else None
    if progress:
        progress("campaign", 1, 1)
    report = DemoReport(spec=spec, customers=results["customers"], orders=results["orders"], campaign=campaign)
    audit.record(by, "data.demo", f"seed {spec.seed}", {**report.summary(), "reset": reset}, db=db)
    return report


def remove_demo_campaign(db: Database, spec: DemoSpec) -> None:
    """Every demo campaign (one per day it was loaded on) and its log: their customers are gone."""
    ids = {doc["_id"] for doc in db.campaigns.find({"owner": DEMO_OWNER}, {"_id": 1})} | {campaign_id_for(spec)}
    db.communication_log.delete_many({"campaign_id": {"$in": [str(i) for i in ids]}})
    db.campaigns.delete_many({"_id": {"$in": list(ids)}})


def clear_customers_and_orders(db: Database) -> None:
    """Delete every customer and order in batches. The embedded server answers nobody while it
    drops a collection or deletes in one command (45 s and 10 s at 50k orders), long enough for
    its watchdog to take it for wedged and restart it mid-way; a batch takes about a second."""
    for kind in ("customers", "orders"):
        while ids := [doc["_id"] for doc in db[kind].find({}, {"_id": 1}).limit(CLEAR_BATCH)]:
            db[kind].delete_many({"_id": {"$in": ids}})
