"""The composition root: builds the store, the services, the notifier, the token validators and the status site's
publisher from Settings, on first use.

Nothing is built at import, so a cold start pays only for what the first request needs. Tests and the local host
hand in their own pieces with `use()`.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .alerts.intake import AlertIntake
    from .domain.maintenance_service import MaintenanceService
    from .domain.notifier import Notifier
    from .domain.pager import Pager
    from .domain.paging import EscalationRunner
    from .domain.policy import Channel
    from .domain.roster import RosterService
    from .domain.service import IncidentService
    from .domain.soon import SoonQueue
    from .domain.store import IncidentStore, MaintenanceStore, RosterStore
    from .http.auth import TokenValidator
    from .settings import Settings
    from .site.publisher import Publisher
    from .site.sink import SiteSink


@dataclass
class Services:
    settings: Settings
    incidents: IncidentService
    alerts: AlertIntake
    roster: RosterService  # the on-call roster: people, rotation, overrides, roles
    maintenance: MaintenanceService  # announced maintenance windows
    tokens: TokenValidator  # admins
    webhook_tokens: TokenValidator | None  # Azure Monitor's secure webhook, when configured
    pagers: dict[Channel, Pager] | None = None  # None: from the settings, when paging first runs
    page_now: bool = True  # a new escalation's first pages right away, not at the next sweep
    _paging: EscalationRunner | None = field(default=None, repr=False)
    _paging_queue: SoonQueue | None = field(default=None, repr=False)
    _paging_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def paging(self) -> EscalationRunner:
        """The escalation runner, built on first use: a cold start that pages nobody loads no channel."""
        with self._paging_lock:
            if self._paging is None:
                from .domain.paging import EscalationRunner
                from .notify.pagers import pagers_from_settings

                secret = self.settings.oncall_link_secret
                self._paging = EscalationRunner(
                    self.incidents, self.roster.store,
                    self.pagers if self.pagers is not None else pagers_from_settings(self.settings),
                    link_secret=secret.get_secret_value().encode() if secret else None,
                    public_base_url=self.settings.incidents_public_base_url)
            return self._paging

    def page_soon(self, incident_id: str) -> None:
        """An escalation started: sweep now, off the request's thread (the timer is the safety net)."""
        if not self.page_now:
            return
        with self._paging_lock:
            if self._paging_queue is None:
                from .domain.soon import SoonQueue

                # A quarter of a second lets a burst of alerts (a flapping rule, a region down) share one sweep,
                # instead of a sweep per alert competing with the next alert for the store's write lock.
                self._paging_queue = SoonQueue(lambda: self.paging().sweep(), name="paging", what="paging",
                                               debounce=PAGING_DEBOUNCE_S)
            queue = self._paging_queue
        queue.request()

    def close(self, timeout: float = 30.0) -> None:
        """Send the pages asked for, then stop paging's worker."""
        if self._paging_queue is not None:
            self._paging_queue.close(timeout)


PAGING_DEBOUNCE_S = 0.25
_current: Services | None = None
_lock = threading.Lock()


def services() -> Services:
    global _current
    if _current is None:
        from .settings import load_settings

        with _lock:
            if _current is None:
                _current = build(load_settings())
    return _current


def use(replacement: Services | None) -> None:
    """Install ready-made services (tests, the local host), or None to build from the environment next time."""
    global _current
    with _lock:
        _current = replacement


def build(settings: Settings, *, store: IncidentStore | None = None, roster_store: RosterStore | None = None,
          notifier: Notifier | None = None, pagers: dict[Channel, Pager] | None = None, page_now: bool = True,
          maintenance_store: MaintenanceStore | None = None, **service_options) -> Services:
    from .alerts.intake import AlertIntake
    from .domain.maintenance_service import MaintenanceService
    from .domain.policy import load_policy
    from .domain.roster import RosterService
    from .domain.service import IncidentService
    from .http.auth import validator_from_settings, webhook_validator_from_settings
    from .notify.slack import notifier_from_url

    slack = settings.slack_webhook_url.get_secret_value() if settings.slack_webhook_url else None
    notifier = notifier or notifier_from_url(slack, buttons=settings.slack_signing_secret is not None)
    def publish_site_soon() -> None:  # built on first use: webhook-only instances never load the site's code
        publisher_for(settings, store=incidents.store, clock=incidents.clock,
                      maintenance_store=maintenance.store).request_publish()

    incidents = IncidentService(store or build_store(settings), notifier=notifier,
                                on_public_change=publish_site_soon, **service_options)
    maintenance = MaintenanceService(
        maintenance_store or _maintenance_beside(settings, incidents.store),
        clock=incidents.clock, policy=incidents.policy, on_public_change=publish_site_soon)
    alerts = AlertIntake(
        incidents, load_policy(),
        grouping_window=timedelta(minutes=settings.alerts_grouping_minutes),
        quiet_period=timedelta(minutes=settings.alerts_quiet_minutes),
        public_base_url=settings.incidents_public_base_url, maintenance=maintenance,
    )
    roster_store = roster_store or _OpenedOnFirstUse(lambda: build_roster_store(settings, beside=incidents.store))
    roster = RosterService(roster_store, clock=incidents.clock)
    built = Services(settings=settings, incidents=incidents, alerts=alerts, roster=roster, maintenance=maintenance,
                     tokens=validator_from_settings(settings),
                     webhook_tokens=webhook_validator_from_settings(settings), pagers=pagers, page_now=page_now)
    incidents.on_escalation_start = built.page_soon
    return built


def build_store(settings: Settings) -> IncidentStore:
    """The configured store; SettingsError (one line naming the setting) when it cannot be used as configured."""
    from .domain.store import StoreMisconfigured
    from .settings import SettingsError

    try:
        store = _open_store(settings)
    except StoreMisconfigured as exc:
        raise SettingsError(str(exc)) from None
    _opened_from[store] = settings
    return store


def _open_store(settings: Settings) -> IncidentStore:
    if settings.incidents_store == "cosmos":
        from .stores.cosmos import CosmosStore

        return CosmosStore(
            settings.cosmos_endpoint,
            settings.cosmos_database,
            settings.cosmos_container,
            key=settings.cosmos_key.get_secret_value() if settings.cosmos_key else None,
            verify_tls=settings.cosmos_verify_tls,
            # A managed identity's data-plane role cannot create databases: infrastructure/ provisions them.
            create_if_missing=settings.cosmos_key is not None,
        )
    from .stores.sqlite import SqliteStore

    return SqliteStore(settings.incidents_sqlite_path)


def build_roster_store(settings: Settings, *, beside: IncidentStore | None = None) -> RosterStore:
    """The on-call roster's store, next to the incidents: in the same SQLite file, or in the container
    COSMOS_ONCALL_CONTAINER of the same Cosmos DB database. SettingsError when it cannot be used as configured."""
    return _store_beside(settings, beside, "SqliteRosterStore", "CosmosRosterStore", settings.cosmos_oncall_container)


def build_maintenance_store(settings: Settings, *, beside: IncidentStore | None = None) -> MaintenanceStore:
    """The maintenance windows' store, next to the incidents, as the roster's: the same SQLite file, or the
    container COSMOS_MAINTENANCE_CONTAINER of the same Cosmos DB database."""
    return _store_beside(settings, beside, "SqliteMaintenanceStore", "CosmosMaintenanceStore",
                         settings.cosmos_maintenance_container)


def _store_beside(settings: Settings, beside: IncidentStore | None, sqlite_class: str, cosmos_class: str,
                  container: str):
    from .domain.store import StoreMisconfigured
    from .settings import SettingsError
    from .stores import sqlite

    try:
        if isinstance(beside, sqlite.SqliteStore):
            return getattr(sqlite, sqlite_class)(beside.path)
        if beside is None and settings.incidents_store == "sqlite":
            return getattr(sqlite, sqlite_class)(settings.incidents_sqlite_path)
        from .stores import cosmos  # Cosmos's SDK only where Cosmos may be used

        if isinstance(beside, cosmos.CosmosStore):
            return getattr(cosmos, cosmos_class).beside(beside, container)
        if settings.incidents_store == "cosmos":
            return getattr(cosmos, cosmos_class)(
                settings.cosmos_endpoint, settings.cosmos_database, container,
                key=settings.cosmos_key.get_secret_value() if settings.cosmos_key else None,
                verify_tls=settings.cosmos_verify_tls, create_if_missing=settings.cosmos_key is not None,
            )
        return getattr(sqlite, sqlite_class)(settings.incidents_sqlite_path)
    except StoreMisconfigured as exc:
        raise SettingsError(str(exc)) from None


def _maintenance_beside(settings: Settings, store: IncidentStore) -> MaintenanceStore:
    """The maintenance store beside `store`, opened on first use; from the settings, as `store`, when it is."""
    maintenance = _OpenedOnFirstUse(lambda: build_maintenance_store(settings, beside=store))
    if _opened_from.get(store) is settings:
        _opened_from[maintenance] = settings
    return maintenance


class _OpenedOnFirstUse:
    """A store opened when first used, then every call passed on to it (the roster's get and put; the maintenance
    windows' get, add, append and find): its container missing, or unreachable at a cold start, fails its own routes
    alone, never the incident log and the alert webhook (the publisher and alert intake log it and go on without
    maintenance windows)."""

    def __init__(self, open_store: Callable[[], object]) -> None:
        self._open, self._store, self._lock = open_store, None, threading.Lock()

    def _opened(self):
        with self._lock:
            if self._store is None:
                self._store = self._open()
            return self._store

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._opened(), name)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


_publisher: tuple[Settings, Publisher] | None = None
_publisher_lock = threading.Lock()
_opened_from: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # store -> the Settings build_store opened it by


def publisher_for(settings: Settings, *, store: IncidentStore | None = None,
                  clock: Callable[[], datetime] | None = None,
                  maintenance_store: MaintenanceStore | None = None, here: bool = False) -> Publisher:
    """The process's Publisher, built on first use and kept while the same settings (and stores, clock) are asked
    for. Without `store`, one is built from the settings (pass the service's own store where there is one); without
    `maintenance_store`, one beside `store`, opened on first use. Its publishes run in a PublishingProcess when
    SITE_PUBLISH_PROCESS is on and the store is the settings' own (that process opens it again from them), unless
    `here` (a one-off publish, which would only wait for a process to start)."""
    global _publisher
    from .site.publisher import Publisher

    with _publisher_lock:
        kept = _publisher
        if (kept is None or kept[0] is not settings or (store is not None and kept[1].store is not store)
                or (clock is not None and kept[1].clock is not clock)
                or (maintenance_store is not None and kept[1].maintenance is not maintenance_store)
                or here and kept[1].elsewhere is not None):
            if kept is not None:
                kept[1].close(timeout=0)  # its worker finishes what was asked of it, then ends
            if store is None:
                store = build_store(settings)
            maintenance = maintenance_store or _maintenance_beside(settings, store)
            own_store = all(_opened_from.get(s) is settings for s in (store, maintenance))
            elsewhere = PublishingProcess(settings) if settings.site_publish_process and own_store and not here \
                else None
            publisher = Publisher(store, build_sink(settings), clock=clock, base_url=settings.site_base_url or "",
                                  maintenance=maintenance, elsewhere=elsewhere)
            kept = _publisher = (settings, publisher)
        return kept[1]


PUBLISHING_NICENESS = 10  # where cores are short, requests go first: a publish is a background chore
PARENT_CHECK_S = 1.0  # how often the publishing process looks whether the process that started it is still there


class PublishingProcess:
    """Publishes in a process of its own. Python runs one thread of a process at a time: a publish in the serving
    process (a quarter of a second of CPU or more) held up every request meanwhile, PATCH p95 30 ms and worst cases
    of over half a second with 8 clients (bench/). The process starts at the first publish, keeps what it parsed and
    rendered from one publish to the next, and is started again after a crash. It runs at a lower priority
    (PUBLISHING_NICENESS): where it shares a core with the serving process, the requests go first."""

    def __init__(self, settings: Settings) -> None:
        self._settings, self._pool, self._lock = settings, None, threading.Lock()

    def __call__(self, now: datetime):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        with self._lock:
            if self._pool is None:  # spawn: a fresh interpreter, not a fork of this one's threads and locks
                self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_publishing_process_started,
                                                 initargs=(PUBLISHING_NICENESS, os.getpid()))
            pool = self._pool
        try:
            return pool.submit(_publish_here, self._settings, now).result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = None  # the next publish starts another
            raise

    def close(self) -> None:
        """Stop the process once the publish it runs, if any, is done."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)


def _publishing_process_started(niceness: int, parent: int) -> None:
    """First thing in a PublishingProcess: its lower priority, and its end with the process that started it. A
    parent killed (SIGKILL, a host recycling its worker) cannot tell it to stop, and it would wait for work forever,
    holding the store open."""
    import time

    os.nice(niceness)

    def end_with_parent() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)  # nobody is left to take a result

    threading.Thread(target=end_with_parent, name="end-with-parent", daemon=True).start()


class PublishFailed(Exception):
    """A publish failed in the PublishingProcess: the error there, as text (a library's own error may not be
    picklable, and one that is not would break the process pool)."""


_publisher_here: Publisher | None = None


def _publish_here(settings: Settings, now: datetime):
    """In a PublishingProcess: publish at `now`, with the store and sink opened from `settings` the first time."""
    global _publisher_here
    try:
        if _publisher_here is None:
            _publisher_here = publisher_for(settings, here=True)
        return _publisher_here.publish(now)
    except Exception as exc:
        raise PublishFailed(f"{type(exc).__name__}: {exc}") from None


def build_sink(settings: Settings) -> SiteSink:
    if settings.site_sink == "blob":
        from .site.sink_blob import open_blob_sink

        secret = settings.site_storage_connection_string
        return open_blob_sink(connection_string=secret.get_secret_value() if secret else None,
                              account_url=settings.site_storage_account_url, container=settings.site_container)
    from .site.sink_directory import DirectorySink

    return DirectorySink(settings.site_directory)


def shutdown(timeout: float = 30.0) -> None:
    """Page and publish what was asked for, then stop the workers (the local host on exit, tests)."""
    global _publisher
    if _current is not None:
        _current.close(timeout)
    with _publisher_lock:
        kept, _publisher = _publisher, None
    if kept is not None:
        kept[1].close(timeout)
