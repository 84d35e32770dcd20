"""The app's settings: one typed object, read from the environment (Azure app settings, or local.settings.json
through the local host) when the app first needs it, never at import."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

DEV_ISSUER = "https://incidents.localhost/dev"
DEV_AUDIENCE = "api://incidents-local"
SITE_PUBLISH_SCHEDULE = "0 * * * * *"  # every minute; the timer's default (see __main__.prepare_local_environment)
ONCALL_SWEEP_SCHEDULE = "*/30 * * * * *"  # every 30 s: a page is at most 30 s late
ONCALL_DAILY_SCHEDULE = "0 0 8 * * *"  # 08:00 UTC every day
SLACK_RESPONSE_URL_PREFIX = "https://hooks.slack.com/"  # Slack's documented host for response_url
_LOOPBACK_PREFIX = re.compile(r"http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?/([A-Za-z0-9._~/-]*/)?")
_HTTPS_PREFIX = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/([A-Za-z0-9._~/-]*/)?")
_NCRONTAB_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?]+$")
_BASE_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?")


class SettingsError(Exception):
    """One line that names the setting to fix."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    # Storage
    incidents_store: Literal["sqlite", "cosmos"] = "sqlite"
    incidents_sqlite_path: Path = Path(".local/incidents.sqlite3")
    cosmos_endpoint: str | None = None
    cosmos_key: SecretStr | None = None  # without it: DefaultAzureCredential (managed identity)
    cosmos_database: str = "incidents"
    cosmos_container: str = "incidents"
    cosmos_oncall_container: str = "oncall"  # the on-call roster (people, rotation, overrides)
    cosmos_maintenance_container: str = "maintenance"  # announced maintenance windows
    cosmos_verify_tls: bool = True  # false only for a local emulator's self-signed certificate

    # The local host's key for function-level routes (on Azure, the host's own keys are used)
    incidents_function_key: SecretStr | None = None

    # Who may call admin routes: Entra ID (tenant + audience) or, locally, a development signing key
    incidents_dev_signing_key: Path | None = None  # PEM file of an RSA private key
    auth_tenant_id: str | None = None
    auth_audience: str | None = None
    auth_issuer: str | None = None  # default: https://login.microsoftonline.com/<tenant>/v2.0
    auth_jwks_url: str | None = None  # default: the tenant's discovery keys
    auth_admin_role: str = Field(default="platform-admin", min_length=1)

    # Alert intake
    alerts_grouping_minutes: int = Field(default=60, ge=1, le=24 * 60)  # repeats within it join the open incident
    alerts_quiet_minutes: int = Field(default=15, ge=1, le=24 * 60)  # a cleared, untouched draft is dismissed after
    alerts_aad_audience: str | None = None  # secure webhook: the identifier URI set on the action group receiver
    alerts_aad_tenant_id: str | None = None  # default: AUTH_TENANT_ID
    alerts_aad_issuer: str | None = None  # default: both issuers of the tenant (v1 and v2 tokens)
    alerts_aad_jwks_url: str | None = None  # default: the tenant's discovery keys
    slack_webhook_url: SecretStr | None = None  # a Slack incoming webhook; without it nobody is told
    incidents_public_base_url: str | None = None  # e.g. https://func-petanque.azurewebsites.net, for links in Slack
    # The Slack app (incidents/slack/): its signing secret turns on the buttons and POST /api/v1/slack/actions
    slack_signing_secret: SecretStr | None = None
    slack_response_url_prefix: str = SLACK_RESPONSE_URL_PREFIX  # where a tap's response_url may point

    # On-call: paging, acknowledge links and calendar addresses (incidents/oncall/)
    oncall_link_secret: SecretStr | None = None  # signs acknowledge links and calendar addresses; rotate to revoke
    oncall_sweep_schedule: str = ONCALL_SWEEP_SCHEDULE  # NCRONTAB: the escalation sweep
    oncall_daily_schedule: str = ONCALL_DAILY_SCHEDULE  # NCRONTAB: gaps and next shifts posted to Slack
    acs_connection_string: SecretStr | None = None  # Azure Communication Services; without it: ACS_ENDPOINT + identity
    acs_endpoint: str | None = None  # https://<resource>.communication.azure.com
    acs_email_sender: str | None = None  # e.g. DoNotReply@<domain>: pages by email need it
    acs_sms_from: str | None = None  # the ACS phone number (E.164) pages by SMS are sent from
    # Where pages go when a channel has no service configured; `serve` sets .local/outbox. Unset (on Azure), such a
    # channel has no pager, and every page on it is a failure on the incident's timeline rather than a lost file.
    pager_outbox_directory: Path | None = None

    # The public status site (incidents/site/publisher.py): a local directory, or Blob Storage's static website ($web)
    site_sink: Literal["directory", "blob"] = "directory"
    site_directory: Path = Path(".local/site")
    site_storage_connection_string: SecretStr | None = None  # without it: SITE_STORAGE_ACCOUNT_URL + managed identity
    site_storage_account_url: str | None = None  # https://<account>.blob.core.windows.net
    site_container: str = Field(default="$web", min_length=1)
    site_base_url: str | None = None  # where visitors find the site, e.g. https://status.petanque.life
    site_publish_schedule: str = SITE_PUBLISH_SCHEDULE  # NCRONTAB, seconds first
    # Publish in a process of its own (bootstrap.PublishingProcess), so that no request waits for a publish's CPU.
    site_publish_process: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.incidents_store == "cosmos" and not self.cosmos_endpoint:
            raise ValueError("COSMOS_ENDPOINT is required when INCIDENTS_STORE=cosmos")
        if self.cosmos_endpoint and not self.cosmos_endpoint.startswith(("https://", "http://")):
            raise ValueError("COSMOS_ENDPOINT must be a URL such as https://<account>.documents.azure.com:443/")
        if self.alerts_aad_audience and not (self.alerts_aad_tenant_id or self.auth_tenant_id
                                             or (self.alerts_aad_issuer and self.alerts_aad_jwks_url)):
            raise ValueError("ALERTS_AAD_TENANT_ID (or AUTH_TENANT_ID) is required when ALERTS_AAD_AUDIENCE is set")
        self._check_site()
        for name in ("slack_webhook_url", "incidents_public_base_url", "site_base_url"):
            value = getattr(self, name)
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if text and not text.startswith(("https://", "http://")):
                raise ValueError(f"{name.upper()} must be an http(s) URL")
        for name in ("incidents_public_base_url", "site_base_url"):  # links we show people: plain origins and paths
            value = getattr(self, name)
            if value and not _BASE_URL.fullmatch(value):
                raise ValueError(f"{name.upper()} must be a plain http(s) URL such as https://status.example.com, "
                                 "without query, fragment, spaces or quotes")
        entra = self.auth_tenant_id or self.auth_issuer or self.auth_jwks_url
        if self.incidents_dev_signing_key and entra:
            raise ValueError(
                "INCIDENTS_DEV_SIGNING_KEY must not be set together with AUTH_TENANT_ID/AUTH_ISSUER/AUTH_JWKS_URL"
            )
        if self.incidents_dev_signing_key and not self.incidents_dev_signing_key.is_file():
            raise ValueError(f"INCIDENTS_DEV_SIGNING_KEY: no such file {self.incidents_dev_signing_key}")
        if not self.incidents_dev_signing_key:
            if not entra:
                raise ValueError("AUTH_TENANT_ID is required (or INCIDENTS_DEV_SIGNING_KEY for local development)")
            if not self.auth_tenant_id and not (self.auth_issuer and self.auth_jwks_url):
                raise ValueError("AUTH_TENANT_ID is required unless both AUTH_ISSUER and AUTH_JWKS_URL are set")
            if not self.auth_audience:
                raise ValueError("AUTH_AUDIENCE is required: the API app registration's application (client) ID")
        return self

    def _check_site(self) -> None:
        if self.site_sink == "blob" and not (self.site_storage_connection_string or self.site_storage_account_url):
            raise ValueError("SITE_STORAGE_CONNECTION_STRING or SITE_STORAGE_ACCOUNT_URL is required "
                             "when SITE_SINK=blob")
        if self.site_storage_account_url and not self.site_storage_account_url.startswith(("https://", "http://")):
            raise ValueError("SITE_STORAGE_ACCOUNT_URL must be a URL such as https://<account>.blob.core.windows.net")
        if self.site_sink == "blob" and not self.site_base_url:  # hreflang, feed and API links must be absolute
            raise ValueError("SITE_BASE_URL is required when SITE_SINK=blob: the address visitors use, e.g. "
                             "https://<account>.<zone>.web.core.windows.net or your custom domain")
        for name in ("site_publish_schedule", "oncall_sweep_schedule", "oncall_daily_schedule"):
            fields = getattr(self, name).split()
            if len(fields) != 6 or not all(_NCRONTAB_FIELD.match(f) for f in fields):
                raise ValueError(f"{name.upper()} must be NCRONTAB with 6 fields, seconds first: "
                                 "{second} {minute} {hour} {day} {month} {day-of-week}, e.g. 0 * * * * *")
        self._check_oncall()
        self._check_slack()

    def _check_oncall(self) -> None:
        if self.oncall_link_secret is not None and len(self.oncall_link_secret.get_secret_value()) < 32:
            raise ValueError("ONCALL_LINK_SECRET must be at least 32 characters, e.g. the output of "
                             "python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        if self.acs_endpoint and not self.acs_endpoint.startswith(("https://", "http://")):
            raise ValueError("ACS_ENDPOINT must be a URL such as https://<resource>.communication.azure.com")
        if self.acs_sms_from and not re.fullmatch(r"\+[1-9][0-9]{1,14}", self.acs_sms_from):
            raise ValueError("ACS_SMS_FROM must be the phone number of your ACS resource in E.164 form: +, the country "
                             "code and the number, without spaces")

    def _check_slack(self) -> None:
        secret = self.slack_signing_secret.get_secret_value() if self.slack_signing_secret else None
        if secret is not None and (len(secret) < 16 or secret != secret.strip()):  # never say the value
            raise ValueError("SLACK_SIGNING_SECRET must be the Slack app's Signing Secret (Basic Information, App "
                             "Credentials), without spaces")
        prefix = self.slack_response_url_prefix
        if not (_HTTPS_PREFIX.fullmatch(prefix) or _LOOPBACK_PREFIX.fullmatch(prefix)):
            raise ValueError(f"SLACK_RESPONSE_URL_PREFIX must be an https:// URL ending in / (default "
                             f"{SLACK_RESPONSE_URL_PREFIX}), or an http:// one on this machine (tests)")

    @property
    def token_issuer(self) -> str:
        if self.incidents_dev_signing_key:
            return self.auth_issuer or DEV_ISSUER
        return self.auth_issuer or f"https://login.microsoftonline.com/{self.auth_tenant_id}/v2.0"

    @property
    def token_audience(self) -> str:
        return self.auth_audience or DEV_AUDIENCE

    @property
    def jwks_url(self) -> str | None:
        if self.incidents_dev_signing_key:
            return None
        return self.auth_jwks_url or f"https://login.microsoftonline.com/{self.auth_tenant_id}/discovery/v2.0/keys"


    @property
    def webhook_issuers(self) -> tuple[str, ...]:
        """Secure-webhook tokens come from Entra ID itself, as v1 or v2 tokens depending on the app registration."""
        if self.alerts_aad_issuer:
            return (self.alerts_aad_issuer,)
        tenant = self.alerts_aad_tenant_id or self.auth_tenant_id
        return (f"https://sts.windows.net/{tenant}/", f"https://login.microsoftonline.com/{tenant}/v2.0")

    @property
    def webhook_jwks_url(self) -> str:
        tenant = self.alerts_aad_tenant_id or self.auth_tenant_id
        return self.alerts_aad_jwks_url or f"https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from environment variables (names in upper case); SettingsError names the one to fix."""
    environ = os.environ if environ is None else environ
    names = Settings.model_fields
    values = {k.lower(): v for k, v in environ.items() if k.lower() in names and v != ""}
    try:
        return Settings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{where}: {message}" if where else message) from None
