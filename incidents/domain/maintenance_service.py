"""The maintenance service: what admins, the status site and alert intake do with maintenance windows, on top of any
MaintenanceStore. The rules are in maintenance.py; this module brings the clock, the known components, the other
windows and the store's concurrency check."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection
from datetime import datetime

from .maintenance import (
    MAINTENANCE_FIELDS,
    Maintenance,
    MaintenanceAction,
    MaintenanceChange,
    MaintenanceUpdate,
    NewMaintenance,
    cancel,
    change_maintenance,
    complete,
    covering,
    open_maintenance,
    start,
)
from .policy import Policy, load_policy, platform_components
from .service import new_incident_id, utc_now
from .store import (
    AlreadyExists,
    EtagMismatch,
    MaintenanceQuery,
    MaintenanceStore,
    StoredMaintenance,
    StoreUnavailable,
)
from .workflow import CLOCK_SKEW

Decision = Callable[[Maintenance, datetime, list[Maintenance]], "tuple[Maintenance, MaintenanceUpdate]"]
log = logging.getLogger(__name__)


def new_maintenance_id(now: datetime) -> str:
    """mnt-20261129-k7m2qx: the incidents' alphabet, read aloud as easily."""
    return "mnt-" + new_incident_id(now).removeprefix("inc-")


class MaintenanceService:
    def __init__(self, store: MaintenanceStore, *, clock: Callable[[], datetime] = utc_now,
                 policy: Policy | None = None, on_public_change: Callable[[], None] = lambda: None,
                 conflict_attempts: int = 50) -> None:
        self.store, self.clock = store, clock
        self.known = platform_components(policy or load_policy())
        self.on_public_change = on_public_change  # every window is public: republish the status site
        self.conflict_attempts = conflict_attempts

    def create(self, body: NewMaintenance, *, author: str) -> StoredMaintenance:
        now = self.clock()
        others = self._current(now)
        for _ in range(5):
            window = open_maintenance(body, maintenance_id=new_maintenance_id(now), author=author, now=now,
                                      known=self.known, others=others)
            try:
                return self._seen(self.store.add(window))
            except AlreadyExists:
                continue  # a random id collided; draw another
        raise StoreUnavailable("could not allocate a unique maintenance id")

    def get(self, maintenance_id: str) -> StoredMaintenance:
        return self.store.get(maintenance_id)

    def find(self, query: MaintenanceQuery) -> list[StoredMaintenance]:
        return self.store.find(query)

    def change(self, maintenance_id: str, change: MaintenanceChange, *, author: str,
               if_match: str | None = None) -> StoredMaintenance:
        return self.update(maintenance_id, lambda m, now, others: change_maintenance(
            m, change, author=author, now=now, known=self.known, others=others), if_match=if_match)

    def start(self, maintenance_id: str, action: MaintenanceAction, *, author: str,
              if_match: str | None = None) -> StoredMaintenance:
        return self.update(maintenance_id, lambda m, now, others: start(m, action, author=author, now=now,
                                                                         others=others), if_match=if_match)

    def complete(self, maintenance_id: str, action: MaintenanceAction, *, author: str,
                 if_match: str | None = None) -> StoredMaintenance:
        return self.update(maintenance_id, lambda m, now, others: complete(m, action, author=author, now=now),
                           if_match=if_match)

    def cancel(self, maintenance_id: str, action: MaintenanceAction, *, author: str,
               if_match: str | None = None) -> StoredMaintenance:
        return self.update(maintenance_id, lambda m, now, others: cancel(m, action, author=author, now=now),
                           if_match=if_match)

    def update(self, maintenance_id: str, decide: Decision, *, if_match: str | None = None) -> StoredMaintenance:
        """Append the entry that `decide(window, now, other current windows)` returns. With `if_match`, only to that
        version (EtagMismatch otherwise); without it, decide again after a concurrent write."""
        for attempt in range(self.conflict_attempts):
            current = self.store.get(maintenance_id)
            if if_match is not None and current.etag != if_match:
                raise EtagMismatch(maintenance_id)
            now = self.clock()
            after, entry = decide(current.maintenance, now, self._current(now))
            before = current.maintenance.model_dump(mode="json", include=set(MAINTENANCE_FIELDS))
            fields = after.model_dump(mode="json", include=set(MAINTENANCE_FIELDS))
            changed = {k: v for k, v in fields.items() if v != before[k]}
            try:
                return self._seen(self.store.append(maintenance_id, current.etag, changed,
                                                    entry.model_dump(mode="json")))
            except EtagMismatch:
                if if_match is not None:
                    raise
                time.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.05)))
        raise StoreUnavailable(f"maintenance {maintenance_id} is changing too often; try again")

    def covering(self, components: Collection[str]) -> list[Maintenance]:
        """The windows in progress now that put every one of `components` under maintenance ([] if any is not).
        Fails open: when the store cannot be read, [] (alerts page as usual) and a log line."""
        if not components:
            return []
        now = self.clock()
        try:
            windows = self._current(now)
        except Exception as exc:  # noqa: BLE001 - a store error, or its container misconfigured: page rather than lose
            log.error("maintenance windows could not be read, so alerts page as usual: %s", exc)
            return []
        return covering(windows, components, now)

    def _current(self, now: datetime) -> list[Maintenance]:
        """The windows a new or changed one could overlap: all that end after now (less the clock's skew)."""
        return [s.maintenance for s in self.store.find(MaintenanceQuery(ends_after=now - CLOCK_SKEW))]

    def _seen(self, stored: StoredMaintenance) -> StoredMaintenance:
        self.on_public_change()
        return stored

