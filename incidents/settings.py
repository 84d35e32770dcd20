"""The app's settings: one typed object, read from the environment (Azure app settings, or local.settings.json
through the local host) when the app first needs it, never at import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

DEV_ISSUER = "https://incidents.localhost/dev"
DEV_AUDIENCE = "api://incidents-local"


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

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.incidents_store == "cosmos" and not self.cosmos_endpoint:
            raise ValueError("COSMOS_ENDPOINT is required when INCIDENTS_STORE=cosmos")
        if self.cosmos_endpoint and not self.cosmos_endpoint.startswith(("https://", "http://")):
            raise ValueError("COSMOS_ENDPOINT must be a URL such as https://<account>.documents.azure.com:443/")
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
