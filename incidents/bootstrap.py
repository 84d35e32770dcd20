"""The composition root: builds the store, the services, the notifier and the token validators from Settings,
on first use.

Nothing is built at import, so a cold start pays only for what the first request needs. Tests and the local host
hand in their own pieces with `use()`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .alerts.intake import AlertIntake
    from .domain.notifier import Notifier
    from .domain.service import IncidentService
    from .domain.store import IncidentStore
    from .http.auth import TokenValidator
    from .settings import Settings


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
    from datetime import timedelta

    from .alerts.intake import AlertIntake
    from .domain.policy import load_policy
    from .domain.service import IncidentService
    from .http.auth import validator_from_settings, webhook_validator_from_settings
    from .notify.slack import notifier_from_url

    slack = settings.slack_webhook_url.get_secret_value() if settings.slack_webhook_url else None
    notifier = notifier or notifier_from_url(slack)
    def publish_site_soon() -> None:  # built on first use: webhook-only instances never load the site's code
        from .site.publisher import publisher_for

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
