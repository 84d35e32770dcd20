"""The composition root: builds the store, the services, the notifier, the token validators and the status site's
publisher from Settings, on first use.

Nothing is built at import, so a cold start pays only for what the first request needs. Tests and the local host
hand in their own pieces with `use()`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .alerts.intake import AlertIntake
    from .domain.notifier import Notifier
    from .domain.service import IncidentService
    from .domain.store import IncidentStore
    from .http.auth import TokenValidator
    from .settings import Settings
    from .site.publisher import Publisher
    from .site.sink import SiteSink


@dataclass
class Services:
    settings: Settings
    incidents: IncidentService
    alerts: AlertIntake
    tokens: TokenValidator  # admins
    webhook_tokens: TokenValidator | None  # Azure Monitor's secure webhook, when configured


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


def build(settings: Settings, *, store: IncidentStore | None = None, notifier: Notifier | None = None,
          **service_options) -> Services:
    from .alerts.intake import AlertIntake
    from .domain.policy import load_policy
    from .domain.service import IncidentService
    from .http.auth import validator_from_settings, webhook_validator_from_settings
    from .notify.slack import notifier_from_url

    slack = settings.slack_webhook_url.get_secret_value() if settings.slack_webhook_url else None
    notifier = notifier or notifier_from_url(slack)
    def publish_site_soon() -> None:  # built on first use: webhook-only instances never load the site's code
        publisher_for(settings, store=incidents.store, clock=incidents.clock).request_publish()

    incidents = IncidentService(store or build_store(settings), notifier=notifier,
                                on_public_change=publish_site_soon, **service_options)
    alerts = AlertIntake(
        incidents, load_policy(),
        grouping_window=timedelta(minutes=settings.alerts_grouping_minutes),
        quiet_period=timedelta(minutes=settings.alerts_quiet_minutes),
        public_base_url=settings.incidents_public_base_url,
    )
    return Services(settings=settings, incidents=incidents, alerts=alerts, tokens=validator_from_settings(settings),
                    webhook_tokens=webhook_validator_from_settings(settings))


def build_store(settings: Settings) -> IncidentStore:
    """The configured store; SettingsError (one line naming the setting) when it cannot be used as configured."""
    from .domain.store import StoreMisconfigured
    from .settings import SettingsError

    try:
        return _open_store(settings)
    except StoreMisconfigured as exc:
        raise SettingsError(str(exc)) from None


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


_publisher: tuple[Settings, Publisher] | None = None
_publisher_lock = threading.Lock()


def publisher_for(settings: Settings, *, store: IncidentStore | None = None,
                  clock: Callable[[], datetime] | None = None) -> Publisher:
    """The process's Publisher, built on first use and kept while the same settings (and store, clock) are asked
    for. Without `store`, one is built from the settings (pass the service's own store where there is one)."""
    global _publisher
    from .site.publisher import Publisher

    with _publisher_lock:
        kept = _publisher
        if (kept is None or kept[0] is not settings or (store is not None and kept[1].store is not store)
                or (clock is not None and kept[1].clock is not clock)):
            if kept is not None:
                kept[1].queue.close(timeout=0)  # its worker finishes what was asked of it, then ends
            if store is None:
                store = build_store(settings)
            publisher = Publisher(store, build_sink(settings), clock=clock, base_url=settings.site_base_url or "")
            kept = _publisher = (settings, publisher)
        return kept[1]


def build_sink(settings: Settings) -> SiteSink:
    if settings.site_sink == "blob":
        from .site.sink_blob import open_blob_sink

        secret = settings.site_storage_connection_string
        return open_blob_sink(connection_string=secret.get_secret_value() if secret else None,
                              account_url=settings.site_storage_account_url, container=settings.site_container)
    from .site.sink_directory import DirectorySink

    return DirectorySink(settings.site_directory)


def shutdown(timeout: float = 30.0) -> None:
    """Publish what was asked for, then stop the process's publisher (the local host on exit, tests)."""
    global _publisher
    with _publisher_lock:
        kept, _publisher = _publisher, None
    if kept is not None:
        kept[1].queue.close(timeout)
