"""The analytic copy: customers, orders and per-customer features in DuckDB.

Concurrency design. DuckDB lets one process open a database file for writing, and no other
process may open it at all meanwhile; the UI, the API, the worker and CLI commands all want it
at once. So every process keeps its OWN in-memory DuckDB copy, and the file under
`CRM_DATA_DIR/analytics/<db name>.duckdb` is only a snapshot that no process keeps open:

- opening: load the snapshot into memory (shared flock), then catch up from MongoDB;
- refreshing: read MongoDB documents changed since the watermark (minus an overlap window),
  upsert them, rebuild features of the touched customers only;
- saving: after a rebuild, or once enough rows changed, write a new snapshot to a temporary
  file and rename it over the old one (exclusive flock), so readers never see half a file;
- other processes learn of a write through a marker file that `after_write` replaces (one
  `stat` per read tells them), and by polling MongoDB every few seconds for writers elsewhere.

MongoDB stays the system of record: `rebuild()` recreates everything from it at any moment.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from crm.analytics import skipped
from crm.analytics.mongo_read import read_loadable
from crm.analytics.upsert import apply_changes, drop_erased, drop_unloadable, load_all
from crm.config import Settings, load_settings
from crm.ingest.attribute_registry import registered
from crm.ingest.erasure import erased_since
from crm.segment_engine.attributes import Attribute, catalogue_with
from crm.segment_engine.catalogue import Catalogue
from crm.store.schema import RECORD_KINDS

SNAPSHOT_MIN_ROWS = 50_000  # below this many changed rows a snapshot costs more than it saves


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@contextmanager
def _flock(path: Path, exclusive: bool):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class AnalyticCopy:
    """One process's in-memory copy for one database; thread-safe."""

    def __init__(self, settings: Settings):
        self.settings = settings
        base = settings.data_dir / "analytics"
        self.snapshot_path = base / f"{settings.db_name}.duckdb"
        self.lock_path = base / f"{settings.db_name}.lock"
        self.marker_path = base / f"{settings.db_name}.changed"
        self._lock = threading.RLock()
        self.opened = False
        self.con = new_connection()
        self._next_since: dict[str, datetime | None] = {k: None for k in RECORD_KINDS}
        self._generation = 0
        self._epoch = uuid.uuid4().hex[:12]
        self._rows_since_snapshot = 0
        self._seen_marker = None
        self._last_refresh = 0.0
        self.stats: dict[str, float] = {}
        self.attributes: tuple[Attribute, ...] = ()  # the workspace's custom attributes, as loaded

    # ----- opening and saving -------------------------------------------------------------
    def open(self) -> AnalyticCopy:
        with self._lock:
            if not self._load_snapshot():
                self.rebuild()
            else:
                self.refresh()
            self.opened = True
        return self

    def _load_snapshot(self) -> bool:
        if not self.snapshot_path.exists():
            return False
        started = time.perf_counter()
        con = _bare_connection()
        try:
            with _flock(self.lock_path, exclusive=False):
                read_snapshot(con, self.snapshot_path)
            marks = dict(con.execute("SELECT kind, next_since FROM analytics_meta").fetchall())
            if not _schema_matches(con):
                return False  # written by an older version of the features: rebuild instead
        except duckdb.Error:
            return False  # a damaged or incompatible snapshot is rebuilt from MongoDB
        self.con, self._next_since = con, {k: marks.get(k) for k in RECORD_KINDS}
        self._epoch, self._generation = uuid.uuid4().hex[:12], 0
        self.stats["snapshot_load_seconds"] = time.perf_counter() - started
        return True

    def save_snapshot(self) -> None:
        """Write the copy to its file atomically (readers keep whatever file they opened)."""
        with self._lock:
            self.snapshot_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.snapshot_path.with_name(f".{self.snapshot_path.name}.{uuid.uuid4().hex}")
            try:
                write_snapshot(self.con, tmp)
                with _flock(self.lock_path, exclusive=True):
                    os.replace(tmp, self.snapshot_path)
            finally:
                for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
                    leftover.unlink(missing_ok=True)
            self._rows_since_snapshot = 0

    # ----- keeping fresh ------------------------------------------------------------------
    def rebuild(self) -> None:
        """Recreate the copy from MongoDB, then save it as the snapshot."""
        from crm.store import get_db

        started = time.perf_counter()
        with self._lock:
            marker = _marker_state(self.marker_path)
            read_from = _utc_now() - timedelta(seconds=self.settings.analytics_overlap_seconds)
            db = get_db(self.settings)
            con = new_connection()
            attributes = registered(db)
            reads = {k: read_loadable(db, k, None, attributes) for k in RECORD_KINDS}
            attributes = _with_late_attributes(db, reads, None, attributes)
            load_all(con, reads["customers"].table, reads["orders"].table)
            skipped.record(con, reads, everything=True)
            self.con, self.attributes = con, attributes
            self._next_since = {k: read_from for k in RECORD_KINDS}
            _write_meta(con, self._next_since)
            self._epoch, self._generation = uuid.uuid4().hex[:12], 0
            self._seen_marker, self._last_refresh = marker, time.monotonic()
            self.stats["rebuild_seconds"] = time.perf_counter() - started
            self.save_snapshot()

    def refresh(self) -> int:
        """Apply what changed in MongoDB since the watermark; returns the rows applied."""
        from crm.store import get_db

        started = time.perf_counter()
        with self._lock:
            marker = _marker_state(self.marker_path)
            read_from = _utc_now() - timedelta(seconds=self.settings.analytics_overlap_seconds)
            db = get_db(self.settings)
            applied = drop_erased(self.con, erased_since(db, self._next_since["customers"]))
            attributes = registered(db)
            changed = {k: read_loadable(db, k, self._next_since[k], attributes) for k in RECORD_KINDS}
            self.attributes = _with_late_attributes(db, changed, self._next_since["customers"], attributes)
            applied += drop_unloadable(self.con, *([s.row_id for s in changed[k].skipped] for k in RECORD_KINDS))
            applied += apply_changes(self.con, changed["customers"].table, changed["orders"].table)
            skipped.record(self.con, changed, everything=False)
            # Everything committed before `read_from` is now in the copy; later writes, even
            # with slightly older updated_at, fall inside the next read's overlap.
            self._next_since = {k: read_from for k in RECORD_KINDS}
            _write_meta(self.con, self._next_since)
            if applied:
                self._generation += 1
                self._rows_since_snapshot += applied
            self._seen_marker, self._last_refresh = marker, time.monotonic()
            self.stats["refresh_seconds"] = time.perf_counter() - started
            if self._rows_since_snapshot >= max(SNAPSHOT_MIN_ROWS, self.row_count() // 10):
                self.save_snapshot()
            return applied

    def ensure_fresh(self) -> None:
        """Refresh when another process wrote (marker changed) or the poll interval passed."""
        due = time.monotonic() - self._last_refresh >= self.settings.analytics_poll_seconds
        if due or _marker_state(self.marker_path) != self._seen_marker:
            self.refresh()

    # ----- reading ------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection for one reader thread; it sees committed data only (never blocks on a
        refresh running in another thread: DuckDB isolates the two)."""
        return self.con.cursor()

    @property
    def catalogue(self) -> Catalogue:
        """The fields rules on this copy may name: built-in ones and the custom attributes."""
        return catalogue_with(self.attributes)

    def skipped_summary(self) -> skipped.SkippedSummary:
        """The MongoDB documents this copy had to leave out (see `loadable.py`)."""
        return skipped.summary(self.cursor())

    def row_count(self) -> int:
        return sum(self.counts().values())

    def counts(self) -> dict[str, int]:
        cur = self.cursor()
        return {k: cur.execute(f"SELECT count(*) FROM {k}").fetchall()[0][0] for k in RECORD_KINDS}

    @property
    def data_version(self) -> str:
        """Changes whenever the data this process answers from changes (a cache key part).

        The epoch changes when the copy is loaded or rebuilt, the generation on every refresh
        that applied rows; both are plain attributes, so asking costs nothing.
        """
        return f"{self._epoch}.{self._generation}"


def _with_late_attributes(db, reads: dict, since: datetime | None, attributes: tuple) -> tuple:
    """The registry as it is after the documents were read. An import may register an attribute
    and write its values between the two reads: then the customers are read again with it (a
    value is only ever written after its attribute is registered, so this second read has them),
    or the rows would keep the old reading, their updated_at being already seen."""
    now = registered(db)
    if now != attributes:
        reads["customers"] = read_loadable(db, "customers", since, now)
    return now


def _bare_connection() -> duckdb.DuckDBPyConnection:
    from crm.segment_engine.schema import use_utc

    con = duckdb.connect(":memory:")
    use_utc(con)
    return con


def new_connection() -> duckdb.DuckDBPyConnection:
    """An empty in-memory copy: base tables without key indexes, and the watermark table.

    Upserts delete then insert by id (a hash join), so no ART index is needed, and building one
    over millions of ids would cost seconds at every load of the snapshot.
    """
    from crm.segment_engine import create_base_tables

    con = _bare_connection()
    create_base_tables(con)
    for table in RECORD_KINDS:
        con.execute(f"CREATE TABLE _{table} AS FROM {table} LIMIT 0")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE _{table} RENAME TO {table}")
    con.execute("CREATE TABLE IF NOT EXISTS analytics_meta (kind VARCHAR, next_since TIMESTAMP)")
    con.execute(skipped.DDL)
    return con


def write_snapshot(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    con.execute("ATTACH ? AS snap", [str(path)])
    try:
        con.execute("COPY FROM DATABASE memory TO snap")
    finally:
        con.execute("DETACH snap")


def read_snapshot(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Copy every table of a snapshot file into the (empty) in-memory database of `con`."""
    con.execute("ATTACH ? AS snap (READ_ONLY)", [str(path)])
    try:
        tables = [
            row[0]
            for row in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'snap'").fetchall()
        ]
        for table in tables:  # names come from the file's catalogue, quoted as identifiers
            con.execute(f'CREATE TABLE memory.main."{table}" AS FROM snap.main."{table}"')
    finally:
        con.execute("DETACH snap")


def _write_meta(con: duckdb.DuckDBPyConnection, next_since: dict[str, datetime | None]) -> None:
    con.execute("DELETE FROM analytics_meta")
    con.executemany("INSERT INTO analytics_meta VALUES (?, ?)", list(next_since.items()))


def _schema_matches(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the loaded tables have the columns this version of the code creates."""
    fresh = new_connection()
    from crm.segment_engine import build_features

    build_features(fresh)
    query = (
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = 'memory' ORDER BY ALL"
    )
    return fresh.execute(query).fetchall() == con.execute(query).fetchall()


def _marker_state(path: Path):
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def mark_changed(settings: Settings | None = None) -> None:
    """Tell every process on this data dir that MongoDB changed (replaces the marker file)."""
    settings = settings or load_settings()
    marker = settings.data_dir / "analytics" / f"{settings.db_name}.changed"
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(f".{marker.name}.{uuid.uuid4().hex}")
    tmp.write_text(str(time.time_ns()))
    os.replace(tmp, marker)


_copies: dict[tuple, AnalyticCopy] = {}
_copies_lock = threading.Lock()


def _key(settings: Settings) -> tuple:
    return os.getpid(), str(settings.data_dir), settings.mongodb_uri, settings.db_name


def _registered_copy(settings: Settings) -> AnalyticCopy:
    key = _key(settings)
    with _copies_lock:
        copy = _copies.get(key)
        if copy is None:
            copy = _copies[key] = AnalyticCopy(settings)
    return copy


def rebuild_copy(settings: Settings | None = None) -> AnalyticCopy:
    """Rebuild this process's copy from MongoDB (opening it that way if it was not open)."""
    copy = _registered_copy(settings or load_settings())
    with copy._lock:
        copy.rebuild()
        copy.opened = True
    return copy


def open_copy(settings: Settings | None = None) -> AnalyticCopy:
    """This process's copy for the configured database, opened on first use and kept fresh."""
    copy = _registered_copy(settings or load_settings())
    with copy._lock:
        if copy.opened:
            copy.ensure_fresh()
        else:
            copy.open()
    return copy


def open_copy_if_any(settings: Settings | None = None) -> AnalyticCopy | None:
    settings = settings or load_settings()
    with _copies_lock:
        copy = _copies.get(_key(settings))
    return copy if copy is not None and copy.opened else None


def close_all() -> None:
    """Forget every copy of this process (tests that switch databases)."""
    with _copies_lock:
        for copy in _copies.values():
            copy.con.close()
        _copies.clear()
