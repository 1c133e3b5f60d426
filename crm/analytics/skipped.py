"""The documents the analytic copy left out, kept in the copy itself (and so in its snapshot).

A rebuild replaces the list; a refresh adds the changed documents it had to leave out and drops
those that now load (fixed in MongoDB, or written again). Segments, exports and the dashboard
count without them; the status says how many and which, so someone can fix them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from crm.analytics.loadable import ID_FIELD
from crm.analytics.mongo_read import Read, Skipped

TABLE = "analytics_skipped"
DDL = f"CREATE TABLE IF NOT EXISTS {TABLE} (kind VARCHAR, row_id VARCHAR, reason VARCHAR)"
EXAMPLES = 5  # ids the status names; the count covers the rest

log = logging.getLogger("crm.analytics")


@dataclass(frozen=True)
class SkippedSummary:
    counts: dict[str, int]  # kind -> documents left out
    examples: list[Skipped]  # the first few, by kind and id

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def record(con: duckdb.DuckDBPyConnection, reads: dict[str, Read], *, everything: bool) -> None:
    """Note what these reads left out. `everything`: the reads covered all of MongoDB (a
    rebuild), so earlier entries go; otherwise only entries of documents read again go."""
    rows = [(s.kind, s.row_id, s.reason) for read in reads.values() for s in read.skipped]
    con.begin()
    try:
        if everything:
            con.execute(f"DELETE FROM {TABLE}")
        else:
            for kind, read in reads.items():
                again = pa.table(
                    {
                        "row_id": pa.concat_arrays(
                            [
                                read.table[ID_FIELD[kind]].combine_chunks().cast(pa.string()),
                                pa.array([s.row_id for s in read.skipped], pa.string()),
                            ]
                        )
                    }
                )
                con.register("_read_again", again)
                try:
                    con.execute(
                        f"DELETE FROM {TABLE} WHERE kind = ? AND row_id IN (SELECT row_id FROM _read_again)", [kind]
                    )
                finally:
                    con.unregister("_read_again")
        if rows:
            con.executemany(f"INSERT INTO {TABLE} VALUES (?, ?, ?)", rows)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    if rows:
        shown = "; ".join(f"{kind} {row_id!r}: {reason}" for kind, row_id, reason in rows[:EXAMPLES])
        log.warning(
            "the analytic copy left out %d document(s) it cannot load (%s%s); fix them in MongoDB or write them again",
            len(rows),
            shown,
            "; ..." if len(rows) > EXAMPLES else "",
        )


def summary(con: duckdb.DuckDBPyConnection) -> SkippedSummary:
    counts = dict(con.execute(f"SELECT kind, count(*) FROM {TABLE} GROUP BY kind ORDER BY kind").fetchall())
    examples = [
        Skipped(*row)
        for row in con.execute(
            f"SELECT kind, row_id, reason FROM {TABLE} ORDER BY kind, row_id LIMIT {EXAMPLES}"
        ).fetchall()
    ]
    return SkippedSummary(counts, examples)
