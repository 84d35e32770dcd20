"""The embedded incident store: one SQLite file (stdlib sqlite3), the default for local runs and small deployments.

`incidents` holds each incident's JSON without its timeline, plus the columns `find` filters and sorts on, and a
`version` that is bumped by every append (the ETag is derived from it). `incident_updates` holds the timeline, one
row per entry; triggers refuse UPDATE and DELETE on it, so it is append-only even to someone with a SQL shell.
`public_view` is one row: a random id of this database and a counter bumped in the same transaction as every write
that changes the public view (`public_version`).
Timestamps are the fixed-width strings of models.format_utc, so comparing strings compares times.
What was parsed is kept by etag (store.ParsedIncidents): a read parses only incidents that changed since, and an append
reads back the new head and entry only, on top of the version it was given (every older entry was read back when it
was written, and the model has no rule across fields or entries).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..domain.maintenance import Maintenance
from ..domain.models import MAX_UPDATES, Incident, Severity, State, Status, Update, format_utc
from ..domain.oncall import Roster
from ..domain.store import (
    NO_ROSTER_ETAG,
    AlreadyExists,
    EtagMismatch,
    IncidentQuery,
    MaintenanceQuery,
    NotFound,
    Page,
    ParsedIncidents,
    Stored,
    StoredMaintenance,
    StoredRoster,
    StoreError,
    StoreMisconfigured,
    StoreUnavailable,
    cannot_be_read_back,
    changes_public_view,
    check_field_names,
    check_maintenance_fields,
    decode_page_token,
    page_of,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    resolved_at TEXT,
    fingerprint TEXT,
    version INTEGER NOT NULL,
    escalation_due_at TEXT
);
CREATE INDEX IF NOT EXISTS incidents_by_start ON incidents (started_at, id);
CREATE INDEX IF NOT EXISTS incidents_by_update ON incidents (updated_at);
CREATE INDEX IF NOT EXISTS incidents_by_state_and_start ON incidents (state, started_at, id);
CREATE INDEX IF NOT EXISTS incidents_by_fingerprint ON incidents (fingerprint, started_at)
    WHERE fingerprint IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_by_escalation_due ON incidents (escalation_due_at)
    WHERE escalation_due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS incident_updates (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (incident_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS incident_updates_public ON incident_updates (incident_id, seq)
    WHERE json_extract(body, '$.visibility') = 'public';
CREATE TABLE IF NOT EXISTS public_view (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    store_id TEXT NOT NULL,
    version INTEGER NOT NULL
);
INSERT OR IGNORE INTO public_view (id, store_id, version) VALUES (1, lower(hex(randomblob(8))), 0);
CREATE TRIGGER IF NOT EXISTS incident_updates_no_update BEFORE UPDATE ON incident_updates
BEGIN SELECT RAISE(ABORT, 'incident_updates is append-only'); END;
CREATE TRIGGER IF NOT EXISTS incident_updates_no_delete BEFORE DELETE ON incident_updates
BEGIN SELECT RAISE(ABORT, 'incident_updates is append-only'); END;
"""

_COLUMNS = ("state", "status", "severity", "started_at", "updated_at", "resolved_at", "escalation_due_at")
# Columns added since the first release: ALTER TABLE adds them to an older database file when it is opened.
_ADDED_COLUMNS = {"escalation_due_at": "TEXT"}
_INSERT = (
    f"INSERT INTO incidents (id, body, fingerprint, {', '.join(_COLUMNS)}, version)"
    f" VALUES (?, ?, ?, {', '.join('?' * len(_COLUMNS))}, 1)"
)
_UPDATE = (
    f"UPDATE incidents SET body = ?, {', '.join(c + ' = ?' for c in _COLUMNS)}, version = version + 1"
    " WHERE id = ? AND version = ?"
)
_BUMP_PUBLIC_VIEW = "UPDATE public_view SET version = version + 1 WHERE id = 1"
BUSY_TIMEOUT_S = 5.0


def _columns(doc: Mapping[str, Any]) -> tuple[Any, ...]:
    """The values of _COLUMNS for an incident's JSON: the column escalation_due_at is the running escalation's
    next_due_at (NULL once stopped), so the sweep's query reads a partial index of running escalations only."""
    escalation = doc.get("escalation") or {}
    return (*(doc[c] for c in _COLUMNS[:-1]), escalation.get("next_due_at"))


def _etag(incident_id: str, version: int) -> str:
    return '"' + hashlib.sha256(f"{incident_id}\n{version}".encode()).hexdigest()[:20] + '"'


def _parsed(body: str, entries: list[str]) -> Incident:
    # Splice the stored JSON texts into one document and let pydantic parse it in one go (several times faster
    # than json.loads + model_validate): a row's body is a JSON object without "updates".
    try:
        return Incident.model_validate_json(f'{body[:-1]}, "updates": [{",".join(entries)}]}}')
    except ValidationError as exc:  # never a caller's fault: not a 422
        raise StoreError(f"an incident does not read back as stored: {exc.errors()[0]['msg']}") from None


def _add_new_columns(db: sqlite3.Connection) -> None:
    """Bring a database made by an earlier release up to SCHEMA (CREATE TABLE IF NOT EXISTS leaves it as it was)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(incidents)")}
    if not have:
        return  # a new database: SCHEMA creates the table whole
    for name, kind in _ADDED_COLUMNS.items():
        if name not in have:
            db.execute(f"ALTER TABLE incidents ADD COLUMN {name} {kind}")


@contextmanager
def _committed(db: sqlite3.Connection, begin: str) -> Iterator[sqlite3.Connection]:
    """A transaction: committed when the block ends, rolled back when it raises."""
    db.execute(begin)
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


# Failures that pass or that an operator fixes without touching the data (SQLite's primary result codes).
_TRANSIENT = {
    sqlite3.SQLITE_BUSY: "is busy", sqlite3.SQLITE_LOCKED: "is locked", sqlite3.SQLITE_FULL: "is full (disk full?)",
    sqlite3.SQLITE_READONLY: "is read-only", sqlite3.SQLITE_IOERR: "had an I/O error",
    sqlite3.SQLITE_CANTOPEN: "cannot be opened",
}


class SqliteStore:
    one_writer = True  # SQLite's rule: one write transaction at a time in the whole file

    def __init__(self, path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout  # how long a write waits for another writer before StoreUnavailable
        self._local = threading.local()
        self._lock = threading.Lock()
        # Writers of this process queue here, handed over at once: SQLite's own busy handler sleeps between tries
        # (1, 2, 5, 10 ... 100 ms), which only writers in other processes still wait on.
        self._write_lock = threading.Lock()
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._parsed = ParsedIncidents()  # whole incidents, as `get` and `append` return them
        self._parsed_public = ParsedIncidents(4096)  # public entries only, as the site and the feed read them
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._errors():
                db = self._db()
                db.execute("PRAGMA journal_mode=WAL")
                _add_new_columns(db)
                db.executescript(SCHEMA)
        except (OSError, sqlite3.Error, StoreUnavailable) as exc:
            cause = exc.__cause__ if isinstance(exc, StoreUnavailable) and exc.__cause__ else exc
            reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
            raise StoreMisconfigured(
                f"INCIDENTS_SQLITE_PATH: cannot use {self.path} as the SQLite database: {reason}") from None

    # The port

    def add(self, incident: Incident) -> Stored:
        doc = incident.model_dump(mode="json")
        updates = doc.pop("updates")
        text, entries = json.dumps(doc), [json.dumps(u) for u in updates]
        parsed = _parsed(text, entries)  # refuse what would not read back
        with self._write() as db:
            try:
                fingerprint = getattr(incident.source, "fingerprint", None)  # set on incidents drafted by alerts
                db.execute(_INSERT, (incident.id, text, fingerprint, *_columns(doc)))
            except sqlite3.IntegrityError:
                raise AlreadyExists(incident.id) from None
            db.executemany(
                "INSERT INTO incident_updates (incident_id, seq, body) VALUES (?, ?, ?)",
                [(incident.id, seq, entry) for seq, entry in enumerate(entries, start=1)],
            )
            if incident.state is State.published:
                db.execute(_BUMP_PUBLIC_VIEW)
        return self._parsed.keep(Stored(parsed, _etag(incident.id, 1)))

    def get(self, incident_id: str) -> Stored:
        found = self._read_incidents("WHERE id = ?", [incident_id])
        if not found:
            raise NotFound(incident_id)
        return found[0]

    def append(self, incident_id: str, if_match: str, fields: Mapping[str, Any], update: Mapping[str, Any]) -> Stored:
        check_field_names(fields)  # their values are read back below
        # All but the write itself happens before the write lock, so that other writers wait for SQL and the commit
        # alone: the UPDATE names the version read here, and a timeline only grows with its incident's version.
        current, body, version = self._at(incident_id, if_match)
        doc = json.loads(body) | dict(fields)
        text, entry = json.dumps(doc), json.dumps(dict(update))
        seq = len(current.updates) + 1
        if seq > MAX_UPDATES:
            raise StoreError(f"incident {incident_id} already holds {MAX_UPDATES} timeline entries")
        # Read back before writing: what could not be read back is never written (it would break every read). The
        # incident has no rule across fields or entries (only each value's own), and the entries before this one
        # were read back when written, so the new head and entry are what is left to read.
        try:
            head = Incident.model_validate_json(f'{text[:-1]}, "updates": []}}')
            added = Update.model_validate_json(entry)
        except ValidationError as exc:
            raise cannot_be_read_back(exc) from None
        incident = head.model_copy(update={"updates": [*current.updates, added]})
        with self._write() as db:
            if db.execute(_UPDATE, (text, *_columns(doc), incident_id, version)).rowcount != 1:
                raise EtagMismatch(incident_id)  # another writer came first
            db.execute("INSERT INTO incident_updates (incident_id, seq, body) VALUES (?, ?, ?)",
                       (incident_id, seq, entry))
            if changes_public_view(doc["state"], fields, update):
                db.execute(_BUMP_PUBLIC_VIEW)
        return self._parsed.keep(Stored(incident, _etag(incident_id, version + 1)))  # once committed

    def _at(self, incident_id: str, if_match: str) -> tuple[Incident, str, int]:
        """The incident at version `if_match`, with its row's JSON and version number."""
        with self._errors():
            row = self._db().execute("SELECT body, version FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        if row is None:
            raise NotFound(incident_id)
        body, version = row
        if _etag(incident_id, version) != if_match:
            raise EtagMismatch(incident_id)
        kept = self._parsed.get(incident_id, if_match) or self.get(incident_id)
        if kept.etag != if_match:  # written since the row was read
            raise EtagMismatch(incident_id)
        return kept.incident, body, version

    def find(self, query: IncidentQuery) -> Page:
        where, params = [], []
        for column, kind in (("state", State), ("status", Status), ("severity", Severity)):
            value = getattr(query, column)
            if value is not None:
                where.append(f"{column} = ?")
                params.append(kind(value).value)  # kind(): also accepts the plain string
        if query.fingerprint is not None:
            where.append("fingerprint = ?")
            params.append(query.fingerprint)
        if query.updated_since is not None:
            where.append("updated_at >= ?")
            params.append(format_utc(query.updated_since))
        if query.active_since is not None:
            where.append("(status != 'resolved' OR resolved_at >= ?)")
            params.append(format_utc(query.active_since))
        if query.escalation_due_by is not None:
            where.append("escalation_due_at <= ?")
            params.append(format_utc(query.escalation_due_by))
        direction, after = ("ASC", ">") if query.oldest_first else ("DESC", "<")
        if query.page_token is not None:
            where.append(f"(started_at, id) {after} (?, ?)")
            params.extend(decode_page_token(query.page_token))
        # The sweep's query names its index: with a parameter for the due time and no statistics, SQLite's planner
        # prefers walking every incident in started_at order (10-20 ms for 10,000) to sorting the few escalating ones.
        hint = "INDEXED BY incidents_by_escalation_due " if query.escalation_due_by is not None else ""
        sql = f"{hint}WHERE {' AND '.join(where) or '1'} ORDER BY started_at {direction}, id {direction} LIMIT ?"
        return page_of(self._read_incidents(sql, [*params, query.limit + 1], public_only=query.public_only),
                       query.limit)

    def public_version(self) -> str:
        with self._errors():
            store_id, version = self._db().execute("SELECT store_id, version FROM public_view").fetchone()
        return f"{store_id}:{version}"

    def close(self) -> None:
        with self._lock:
            for _, db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()

    # Plumbing

    def _read_incidents(self, where: str, params: list[Any], *, public_only: bool = False) -> list[Stored]:
        """The incidents `where` selects, as of one moment. When each is kept at its current version (most reads of
        a serving process), that takes one statement, its own snapshot; otherwise heads and timelines are read
        together in a transaction."""
        kept_by = self._parsed_public if public_only else self._parsed
        with self._errors():
            heads = self._db().execute(f"SELECT id, version FROM incidents {where}", params).fetchall()
        kept = [kept_by.get(i, _etag(i, version)) for i, version in heads]
        if all(kept):
            return kept
        with self._read() as db:
            return self._incidents(db, where, params, public_only=public_only)

    def _incidents(self, db: sqlite3.Connection, where: str, params: list[Any], *,
                   public_only: bool = False) -> list[Stored]:
        """The incidents `where` selects, in one snapshot. One parsed before at its current version comes from what
        is kept (by etag); the others' timelines are read, parsed and kept."""
        kept_by = self._parsed_public if public_only else self._parsed
        heads = db.execute(f"SELECT id, body, version FROM incidents {where}", params).fetchall()
        found = {i: kept for i, _, version in heads if (kept := kept_by.get(i, _etag(i, version)))}
        missing = [head for head in heads if head[0] not in found]
        timelines: dict[str, list[str]] = {head[0]: [] for head in missing}
        if missing:
            marks = ", ".join("?" * len(missing))
            # public_only: the partial index holds the public entries alone, so internal ones are never read
            source, only = (("incident_updates INDEXED BY incident_updates_public",
                             " AND json_extract(body, '$.visibility') = 'public'") if public_only
                            else ("incident_updates", ""))
            for incident_id, body in db.execute(
                f"SELECT incident_id, body FROM {source} WHERE incident_id IN ({marks}){only}"
                " ORDER BY incident_id, seq",
                list(timelines),
            ):
                timelines[incident_id].append(body)
        for i, body, version in missing:
            found[i] = kept_by.keep(Stored(_parsed(body, timelines[i]), _etag(i, version)))
        return [found[i] for i, _, _ in heads]

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # One connection per thread; check_same_thread=False only so that close() may close them all.
            db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA foreign_keys = ON")
            # FULL: a write answered 2xx survives a power loss (NORMAL in WAL mode may roll the last ones back).
            db.execute("PRAGMA synchronous = FULL")
            with self._lock:
                # A threading HTTP server starts a thread per connection: close what finished threads left open.
                for thread, other in [t for t in self._connections if not t[0].is_alive()]:
                    other.close()
                    self._connections.remove((thread, other))
                self._connections.append((threading.current_thread(), db))
            self._local.db = db
        return db

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            if code in _TRANSIENT:
                raise StoreUnavailable(f"SQLite database {self.path} {_TRANSIENT[code]}: {exc}") from exc
            raise

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with self._errors(), _committed(self._db(), begin) as db:
            yield db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if not self._write_lock.acquire(timeout=self.busy_timeout):
            raise StoreUnavailable(f"SQLite database {self.path} is busy: a write waited {self.busy_timeout} s")
        try:
            with self._transaction("BEGIN IMMEDIATE") as db:  # the write lock up front: no deadlock on upgrade
                yield db
        finally:
            self._write_lock.release()

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._transaction("BEGIN")  # one snapshot for the incident rows and their timelines


# The on-call roster (domain/store.py RosterStore): one row of its own table, in the incidents' file or any other.
ROSTER_SCHEMA = """
CREATE TABLE IF NOT EXISTS roster (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    body TEXT NOT NULL,
    version INTEGER NOT NULL
)
"""
_READ_ROSTER = "SELECT body, version FROM roster WHERE id = 1"


def _stored_roster(row: tuple[str, int] | None) -> StoredRoster:
    if row is None:
        return StoredRoster(Roster(), NO_ROSTER_ETAG)
    try:
        return StoredRoster(Roster.model_validate_json(row[0]), _etag("roster", row[1]))
    except ValidationError as exc:  # never a caller's fault: not a 422 (and no field's value in the message)
        raise StoreError(f"the roster does not read back as stored: {exc.errors()[0]['msg']}") from None


def _create(path: Path, busy_timeout: float, schema: str, what: str, errors) -> None:
    """Create a store's tables beside the incidents (each call of those stores has a connection of its own);
    StoreMisconfigured naming the setting when the file cannot be used."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with errors():
            db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(schema)
            finally:
                db.close()
    except (OSError, sqlite3.Error, StoreUnavailable) as exc:
        cause = exc.__cause__ if isinstance(exc, StoreUnavailable) and exc.__cause__ else exc
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
        raise StoreMisconfigured(f"INCIDENTS_SQLITE_PATH: cannot keep {what} in {path}: {reason}") from None


class SqliteRosterStore:
    """The roster's JSON and a version that every put bumps (the ETag is derived from it). Read and written rarely
    (admins, the escalation sweep), so each call has a connection of its own."""

    def __init__(self, path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        _create(self.path, busy_timeout, ROSTER_SCHEMA, "the on-call roster", self._errors)

    def get(self) -> StoredRoster:
        with self._transaction("BEGIN") as db:
            row = db.execute(_READ_ROSTER).fetchone()
        return _stored_roster(row)

    def put(self, roster: Roster, if_match: str) -> StoredRoster:
        body = roster.model_dump_json()
        with self._transaction("BEGIN IMMEDIATE") as db:  # the write lock first: a concurrent put waits, then fails
            row = db.execute("SELECT version FROM roster WHERE id = 1").fetchone()
            if if_match != (_etag("roster", row[0]) if row else NO_ROSTER_ETAG):
                raise EtagMismatch("the roster changed since it was read")
            if row:
                db.execute("UPDATE roster SET body = ?, version = version + 1 WHERE id = 1", (body,))
            else:
                db.execute("INSERT INTO roster (id, body, version) VALUES (1, ?, 1)", (body,))
            # Read back before COMMIT: what could not be read back is never written (it would break every read).
            return _stored_roster(db.execute(_READ_ROSTER).fetchone())

    def close(self) -> None:
        pass  # no connection outlives a call

    _errors = SqliteStore._errors  # SQLite's transient failures as StoreUnavailable, as for the incidents

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with self._errors():
            db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            try:
                db.execute("PRAGMA synchronous = FULL")  # a put answered 2xx survives a power loss
                with _committed(db, begin):
                    yield db
            finally:
                db.close()


# Maintenance windows (domain/store.py MaintenanceStore): tables of their own, in the incidents' file or any other.
# `maintenances` holds each window's JSON without its timeline, with the columns `find` filters and sorts on;
# `maintenance_updates` its timeline, append-only as incident_updates is (triggers refuse UPDATE and DELETE).
MAINTENANCE_SCHEMA = """
CREATE TABLE IF NOT EXISTS maintenances (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS maintenances_by_end ON maintenances (ends_at);
CREATE TABLE IF NOT EXISTS maintenance_updates (
    maintenance_id TEXT NOT NULL REFERENCES maintenances (id),
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (maintenance_id, seq)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS maintenance_updates_no_update BEFORE UPDATE ON maintenance_updates
BEGIN SELECT RAISE(ABORT, 'maintenance_updates is append-only'); END;
CREATE TRIGGER IF NOT EXISTS maintenance_updates_no_delete BEFORE DELETE ON maintenance_updates
BEGIN SELECT RAISE(ABORT, 'maintenance_updates is append-only'); END;
"""


def _stored_maintenances(rows: list[tuple[str, str, int, list[str]]]) -> list[StoredMaintenance]:
    try:
        return [StoredMaintenance(Maintenance.model_validate_json(f'{body[:-1]}, "updates": [{",".join(entries)}]}}'),
                                  _etag(i, version)) for i, body, version, entries in rows]
    except ValidationError as exc:  # never a caller's fault: not a 422
        raise StoreError(f"a maintenance window does not read back as stored: {exc.errors()[0]['msg']}") from None


class SqliteMaintenanceStore:
    """Maintenance windows beside the incidents. Read by each publish and each new alert, written by admins: each call
    has a connection of its own, as for the roster."""

    def __init__(self, path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        _create(self.path, busy_timeout, MAINTENANCE_SCHEMA, "maintenance windows", self._errors)

    def add(self, maintenance: Maintenance) -> StoredMaintenance:
        doc = maintenance.model_dump(mode="json")
        updates = [json.dumps(u) for u in doc.pop("updates")]
        text = json.dumps(doc)
        _stored_maintenances([(maintenance.id, text, 1, updates)])  # refuse what would not read back
        with self._transaction("BEGIN IMMEDIATE") as db:
            try:
                db.execute("INSERT INTO maintenances (id, body, starts_at, ends_at, version) VALUES (?, ?, ?, ?, 1)",
                           (maintenance.id, text, doc["starts_at"], doc["ends_at"]))
            except sqlite3.IntegrityError:
                raise AlreadyExists(maintenance.id) from None
            db.executemany("INSERT INTO maintenance_updates (maintenance_id, seq, body) VALUES (?, ?, ?)",
                           [(maintenance.id, seq, u) for seq, u in enumerate(updates, start=1)])
        return StoredMaintenance(maintenance, _etag(maintenance.id, 1))

    def get(self, maintenance_id: str) -> StoredMaintenance:
        with self._transaction("BEGIN") as db:
            found = _stored_maintenances(self._rows(db, "WHERE id = ?", [maintenance_id]))
        if not found:
            raise NotFound(maintenance_id)
        return found[0]

    def append(self, maintenance_id: str, if_match: str, fields: Mapping[str, Any],
               update: Mapping[str, Any]) -> StoredMaintenance:
        check_maintenance_fields(fields, update)
        with self._transaction("BEGIN IMMEDIATE") as db:
            row = db.execute("SELECT body, version FROM maintenances WHERE id = ?", (maintenance_id,)).fetchone()
            if row is None:
                raise NotFound(maintenance_id)
            if _etag(maintenance_id, row[1]) != if_match:
                raise EtagMismatch(maintenance_id)
            doc = json.loads(row[0]) | dict(fields)
            db.execute("UPDATE maintenances SET body = ?, starts_at = ?, ends_at = ?, version = version + 1"
                       " WHERE id = ? AND version = ?",
                       (json.dumps(doc), doc["starts_at"], doc["ends_at"], maintenance_id, row[1]))
            db.execute("INSERT INTO maintenance_updates (maintenance_id, seq, body)"
                       " SELECT ?, COALESCE(MAX(seq), 0) + 1, ? FROM maintenance_updates WHERE maintenance_id = ?",
                       (maintenance_id, json.dumps(dict(update)), maintenance_id))
            # Read back before COMMIT: what could not be read back is never written (it would break every read).
            return _stored_maintenances(self._rows(db, "WHERE id = ?", [maintenance_id]))[0]

    def find(self, query: MaintenanceQuery) -> list[StoredMaintenance]:
        where, params = [], []
        if query.ends_after is not None:
            where.append("ends_at > ?")
            params.append(format_utc(query.ends_after))
        if query.starts_before is not None:
            where.append("starts_at < ?")
            params.append(format_utc(query.starts_before))
        sql = f"WHERE {' AND '.join(where) or '1'} ORDER BY starts_at, id LIMIT ?"
        with self._transaction("BEGIN") as db:
            return _stored_maintenances(self._rows(db, sql, [*params, query.limit]))

    def close(self) -> None:
        pass  # no connection outlives a call

    _errors = SqliteStore._errors
    _transaction = SqliteRosterStore._transaction

    @staticmethod
    def _rows(db: sqlite3.Connection, where: str, params: list[Any]) -> list[tuple[str, str, int, list[str]]]:
        rows = db.execute(f"SELECT id, body, version FROM maintenances {where}", params).fetchall()
        timelines: dict[str, list[str]] = {row[0]: [] for row in rows}
        if rows:
            marks = ", ".join("?" * len(rows))
            for maintenance_id, body in db.execute(
                    f"SELECT maintenance_id, body FROM maintenance_updates WHERE maintenance_id IN ({marks})"
                    " ORDER BY maintenance_id, seq", list(timelines)):
                timelines[maintenance_id].append(body)
        return [(i, body, version, timelines[i]) for i, body, version in rows]
