"""The incident service: what admins and the public can do with the log, on top of any store."""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .escalation import start_escalation
from .models import (
    MUTABLE_FIELDS,
    Confirmation,
    Dismissal,
    Incident,
    IncidentChange,
    NewIncident,
    PublicIncident,
    State,
    Status,
    Update,
    format_utc,
)
from .notifier import NoNotifier, Notice, NoticeKind, Notifier
from .policy import Policy, load_policy
from .size import check_room
from .store import (
    AlreadyExists,
    EtagMismatch,
    IncidentQuery,
    IncidentStore,
    Page,
    Stored,
    StoreUnavailable,
    changes_public_view,
)
from .workflow import acknowledge, apply_change, confirm, dismiss, open_incident

PUBLIC_WINDOW = timedelta(days=30)
# A cached page of the public feed is also recomputed this often: it bounds how long the feed can miss a change
# whose version bump was lost (see stores/cosmos.py), and a page's next link when incidents past it leave the window.
FEED_CACHE_MAX_AGE = timedelta(seconds=60)
FEED_CACHE_PAGES = 64
Decision = Callable[[Incident, datetime], "tuple[Incident, Update] | None"]
_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: ids get read aloud on calls


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def new_incident_id(now: datetime) -> str:
    """Short enough to type at 3 a.m.: inc-20261126-k7m2qx."""
    return f"inc-{now:%Y%m%d}-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(6))


def keyed_incident_id(author: str, key: str) -> str:
    """The id of the incident an admin's Idempotency-Key opens: inc-k7m2qxa3bd (10 characters, 31**10 of them)."""
    number = int.from_bytes(hashlib.sha256(f"{author}\n{key}".encode()).digest()[:8], "big")
    chars = []
    for _ in range(10):
        number, index = divmod(number, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[index])
    return "inc-" + "".join(chars)


def _changed_fields(before: Incident, after: Incident) -> dict[str, Any]:
    """The fields `after` changes, as JSON. Only the fields whose values differ are dumped, not every field twice (the
    head holds the escalation's policy), and kept only if their JSON differs too: a time that differs below the
    millisecond the store keeps is no change."""
    differ = {name for name in MUTABLE_FIELDS if getattr(after, name) != getattr(before, name)}
    if not differ:
        return {}
    was = before.model_dump(mode="json", include=differ)
    return {k: v for k, v in after.model_dump(mode="json", include=differ).items() if v != was[k]}


class IdempotencyKeyReused(Exception):
    """An Idempotency-Key sent again with a different request (HTTP 422)."""


@dataclass(frozen=True)
class PublicFeed:
    incidents: list[PublicIncident]
    since: datetime
    since_clamped: bool
    next_token: str | None
    incidents_json: str  # json.dumps of the incidents' JSON, made once per cached page
    etag: str  # weak: the same incidents and next page, whatever generated_at and since say


@dataclass(frozen=True)
class _FeedPage:
    """One computed page of the public feed, and the window starts it holds for: from `since` up to `until`."""

    version: str
    since: datetime
    until: datetime | None  # the earliest resolved_at on the page: when the window passes it, it leaves
    computed_at: datetime
    incidents: list[PublicIncident]
    incidents_json: str
    next_token: str | None

    def holds(self, version: str, since: datetime, now: datetime) -> bool:
        return (version == self.version and self.since <= since and (self.until is None or since <= self.until)
                and self.computed_at <= now < self.computed_at + FEED_CACHE_MAX_AGE)


class IncidentService:
    def __init__(
        self,
        store: IncidentStore,
        *,
        clock: Callable[[], datetime] = utc_now,
        notifier: Notifier | None = None,
        on_public_change: Callable[[], None] = lambda: None,
        on_escalation_start: Callable[[str], None] = lambda incident_id: None,
        policy: Policy | None = None,
        conflict_attempts: int = 200,
    ) -> None:
        self.store = store
        self.policy = policy or load_policy()
        self.on_escalation_start = on_escalation_start  # e.g. page the first level now rather than at the next sweep
        self.clock = clock
        self.notifier = notifier or NoNotifier()
        self.on_public_change = on_public_change  # e.g. republish the status site
        self.conflict_attempts = conflict_attempts
        self._feed_pages: dict[tuple[int, str | None], _FeedPage] = {}
        self._feed_lock = threading.Lock()
        self._turns: dict[str, tuple[threading.RLock, int]] = {}  # id ("" for all) -> (lock, how many use or await it)
        self._locks_lock = threading.Lock()

    def create(self, body: NewIncident, *, author: str, idempotency_key: str | None = None) -> Stored:
        """Open an incident. With an idempotency key, the same admin sending the same body with the same key again
        (a retry after a timeout, even concurrently) gets the incident the first request created, and only one is
        created; the same key with another body is IdempotencyKeyReused."""
        now = self.clock()
        if idempotency_key is not None:
            return self._create_once(body, author, idempotency_key, now)
        for _ in range(5):
            incident = self._opened(body, new_incident_id(now), author, now)
            try:
                return self.page_soon(self._seen(self.store.add(incident)))
            except AlreadyExists:
                continue  # a random id collided; draw another
        raise StoreUnavailable("could not allocate a unique incident id")

    def _create_once(self, body: NewIncident, author: str, key: str, now: datetime) -> Stored:
        # The id comes from (admin, key), so the store's `add` lets exactly one request create it; the opening entry
        # keeps a digest of the request to tell a retry from another request that reuses the key.
        incident_id = keyed_incident_id(author, key)
        digest = hashlib.sha256(f"{author}\n{key}\n{body.model_dump_json()}".encode()).hexdigest()
        incident = self._opened(body, incident_id, author, now)
        opened = incident.updates[0].model_copy(update={"request_digest": digest})
        try:
            return self.page_soon(self._seen(self.store.add(incident.model_copy(update={"updates": [opened]}))))
        except AlreadyExists:
            existing = self.store.get(incident_id)
        if existing.incident.updates[0].request_digest != digest:
            raise IdempotencyKeyReused(
                f"Idempotency-Key '{key}' was already used for incident {incident_id} with a different body. Send a "
                "new key to open another incident, or the very same body to get that incident again."
            )
        return existing

    def _opened(self, body: NewIncident, incident_id: str, author: str, now: datetime) -> Incident:
        return open_incident(body, incident_id=incident_id, author=author, now=now,
                             escalation=start_escalation(self.policy.paging_snapshot(body.severity), now))

    def page_soon(self, stored: Stored) -> Stored:
        """A new incident whose escalation runs: ask for its first pages now."""
        escalation = stored.incident.escalation
        if escalation is not None and escalation.stopped_at is None:
            self.on_escalation_start(stored.incident.id)
        return stored

    def get(self, incident_id: str) -> Stored:
        return self.store.get(incident_id)

    def acknowledge(self, incident_id: str, *, author: str, via: str) -> Stored:
        """Stop the incident's paging: someone has it. See workflow.acknowledge."""
        return self.update(incident_id, lambda incident, now: acknowledge(incident, author=author, now=now, via=via))

    def find(self, query: IncidentQuery) -> Page:
        return self.store.find(query)

    def change(self, incident_id: str, change: IncidentChange, *, author: str, if_match: str | None = None) -> Stored:
        """Apply `change` as one new timeline entry (see `update`)."""
        return self.update(
            incident_id, lambda incident, now: apply_change(incident, change, author=author, now=now), if_match=if_match
        )

    def confirm(self, incident_id: str, confirmation: Confirmation, *, author: str) -> Stored:
        stored = self.update(incident_id, lambda incident, now: confirm(incident, confirmation, author=author, now=now))
        self.announce(NoticeKind.confirmed, stored.incident)
        return stored

    def dismiss(self, incident_id: str, dismissal: Dismissal, *, author: str) -> Stored:
        stored = self.update(incident_id, lambda incident, now: dismiss(incident, dismissal, author=author, now=now))
        self.announce(NoticeKind.dismissed, stored.incident, reason=dismissal.reason)
        return stored

    def _seen(self, stored: Stored) -> Stored:
        """A new published incident is seen by the public: tell whoever shows it (`update` does for changes)."""
        if stored.incident.state is State.published:
            self.on_public_change()
        return stored

    def announce(self, kind: NoticeKind, incident: Incident, **details) -> None:
        """Tell the admins' channel; a failure there is logged by the notifier and never undoes the change."""
        self.notifier.send(Notice(kind=kind, incident=incident, at=self.clock(), **details))

    def update(self, incident_id: str, decide: Decision, *, if_match: str | None = None) -> Stored:
        """Append the entry that `decide(incident, now)` returns, with the incident it leads to; when it returns
        None, change nothing. With `if_match`, only to that version of the incident (EtagMismatch otherwise);
        without it, re-read and decide again after a concurrent write, so no one's change is lost. A change the
        public can see (store.changes_public_view) is told to whoever shows it; an internal note is not."""
        with self._changing(incident_id):
            stored, seen = self._update(incident_id, decide, if_match)
        if seen:
            self.on_public_change()
        return stored

    @contextmanager
    def _changing(self, incident_id: str) -> Iterator[None]:
        """Changes from this process's threads take turns: to one incident, rather than all but one losing the race
        to the store and reading again; to every incident when the store takes one writer at a time (SQLite). There
        they would queue at its write lock anyway, each holding its incident's turn meanwhile, so that the slowest
        waited behind several others (bench/: PATCH p95 with 8 clients about 28 ms, against 16 ms with one turn).
        Changes from other processes still meet at the store's etag. Reentrant: a change made while deciding
        another, in the same thread, meets the etag too rather than waiting forever."""
        key = "" if self.store.one_writer else incident_id
        with self._locks_lock:
            lock, users = self._turns.get(key, (threading.RLock(), 0))
            self._turns[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._locks_lock:
                lock, users = self._turns[key]
                if users == 1:
                    del self._turns[key]
                else:
                    self._turns[key] = (lock, users - 1)

    def _update(self, incident_id: str, decide: Decision, if_match: str | None) -> tuple[Stored, bool]:
        for attempt in range(self.conflict_attempts):
            current = self.store.get(incident_id)
            if if_match is not None and current.etag != if_match:
                raise EtagMismatch(incident_id)
            decided = decide(current.incident, self.clock())
            if decided is None:
                return current, False
            after, entry = decided
            check_room(current.incident, after)  # IncidentTooLarge before the store's own limit is reached
            changed = _changed_fields(current.incident, after)
            added = entry.model_dump(mode="json")
            try:
                stored = self.store.append(incident_id, current.etag, changed, added)
            except EtagMismatch:
                if if_match is not None:
                    raise
                time.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.05)))
                continue
            return stored, changes_public_view(stored.incident.state.value, changed, added)
        raise StoreUnavailable(f"incident {incident_id} is changing too often; try again")

    def public_feed(
        self, since: datetime | None = None, *, limit: int = 50, page_token: str | None = None
    ) -> PublicFeed:
        """Published incidents active since `since` (at most 30 days back), newest first, public fields only.

        Pages of the default window (no `since`) are cached, keyed by the store's public_version: a request asks the
        store only that cheap question until a public write, the window passing an incident on the page, or
        FEED_CACHE_MAX_AGE."""
        now = self.clock()
        earliest = now - PUBLIC_WINDOW
        clamped = since is None or since < earliest
        effective = earliest if clamped else since
        if since is None:
            page = self._cached_public_page(effective, limit, page_token, now)
        else:
            page = self._public_page(effective, limit, page_token, "", now)
        since_clamped = clamped and since is not None
        # A client's own `since` is part of what it gets; the default window's start moves with every request.
        asked_since = format_utc(effective) if since is not None and not clamped else ""
        validator = f"{asked_since}\n{since_clamped}\n{page.next_token}\n{page.incidents_json}"
        return PublicFeed(
            incidents=page.incidents, since=effective, since_clamped=since_clamped, next_token=page.next_token,
            incidents_json=page.incidents_json,
            etag='W/"' + hashlib.sha256(validator.encode()).hexdigest()[:32] + '"',
        )

    def _cached_public_page(self, since: datetime, limit: int, page_token: str | None, now: datetime) -> _FeedPage:
        version = self.store.public_version()
        key = (limit, page_token)
        page = self._feed_pages.get(key)
        if page is not None and page.holds(version, since, now):
            return page
        with self._feed_lock:  # one computation for a burst of misses
            page = self._feed_pages.get(key)
            if page is None or not page.holds(version, since, now):
                page = self._public_page(since, limit, page_token, version, now)
                if len(self._feed_pages) >= FEED_CACHE_PAGES or any(
                        p.version != version for p in self._feed_pages.values()):
                    self._feed_pages = {}
                self._feed_pages = {**self._feed_pages, key: page}
        return page

    def _public_page(self, since: datetime, limit: int, page_token: str | None, version: str,
                     now: datetime) -> _FeedPage:
        # version is read before the incidents: a write in between makes the page newer than its version, which
        # only costs one more computation, never a stale page.
        page = self.store.find(
            IncidentQuery(state=State.published, active_since=since, public_only=True, limit=limit,
                          page_token=page_token)
        )
        incidents = [PublicIncident.of(s.incident) for s in page.items]
        resolved = [i.resolved_at for i in incidents if i.status is Status.resolved and i.resolved_at is not None]
        return _FeedPage(
            version=version, since=since, until=min(resolved, default=None), computed_at=now, incidents=incidents,
            incidents_json=json.dumps([i.model_dump(mode="json") for i in incidents], ensure_ascii=False),
            next_token=page.next_token,
        )
