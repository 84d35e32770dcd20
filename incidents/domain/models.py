"""What an incident is, what an admin may send to make or change one, and what the public may see of it.

Plain pydantic v2; nothing here knows about Azure, HTTP or storage.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

LOCALES = ("en", "fr", "es", "sv")
TITLE_MAX = 120
MESSAGE_MAX = 2000
MAX_UPDATES = 500
MAX_COMPONENTS = 50


class Severity(StrEnum):
    sev1 = "sev1"
    sev2 = "sev2"
    sev3 = "sev3"


class Status(StrEnum):
    """The workflow, in order: an incident only moves forward (skips allowed) unless reopened."""

    investigating = "investigating"
    identified = "identified"
    monitoring = "monitoring"
    resolved = "resolved"

    @property
    def rank(self) -> int:
        return list(Status).index(self)


class State(StrEnum):
    draft = "draft"  # made by an alert, waiting for an admin; never public
    published = "published"
    dismissed = "dismissed"  # never public


class Visibility(StrEnum):
    public = "public"
    internal = "internal"


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must include a time zone, e.g. 2026-11-26T21:43:00Z")
    return value.astimezone(timezone.utc)


def format_utc(value: datetime) -> str:
    """Fixed width, so that both stores can compare and sort timestamps as strings."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


UtcDateTime = Annotated[
    datetime, AfterValidator(_to_utc), PlainSerializer(format_utc, return_type=str, when_used="json")
]

Locale = Literal["en", "fr", "es", "sv"]


def _plain_string_is_english(value: Any) -> Any:
    return {"en": value} if isinstance(value, str) else value


def _english_required(value: dict[str, str]) -> dict[str, str]:
    if "en" not in value:
        raise ValueError("an English text ('en') is required; 'fr', 'es' and 'sv' are optional")
    return {locale: value[locale] for locale in LOCALES if locale in value}


def _localized(max_length: int) -> Any:
    text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)]
    return Annotated[
        dict[Locale, text],
        BeforeValidator(_plain_string_is_english),
        AfterValidator(_english_required),
    ]


Title = _localized(TITLE_MAX)
Message = _localized(MESSAGE_MAX)
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MESSAGE_MAX)]
ComponentName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


Components = Annotated[list[ComponentName], Field(max_length=MAX_COMPONENTS), AfterValidator(_unique)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertSource(_Strict):
    """The Azure Monitor alert that drafted an incident."""

    kind: Literal["azure-monitor"] = "azure-monitor"
    alert_id: str
    alert_rule: str
    rule_key: str | None = None  # our policy's rule, when the alert is one of ours
    fingerprint: str  # rule + targets: later alerts with the same fingerprint group into this incident
    generation: int = Field(default=1, ge=1)  # the how-manieth incident for this fingerprint
    target_ids: list[str] = []
    fired_at: UtcDateTime | None = None


class AlertEvent(_Strict):
    """One alert delivery recorded on a timeline entry; `delivery` is the same however often Azure repeats it."""

    delivery: str
    alert_id: str
    condition: Literal["Fired", "Resolved"]
    at: UtcDateTime  # when it fired, or resolved
    azure_severity: str


class Update(_Strict):
    """One entry of an incident's timeline. Entries are appended, never edited or removed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    at: UtcDateTime
    status: Status
    severity: Severity
    message: Message | None = None  # public words, when the entry carries any
    note: Note | None = None  # internal words, never public
    changes: list[str] = []  # the incident fields this entry changed
    author: str
    visibility: Visibility
    alert: AlertEvent | None = None  # the alert delivery this entry records, if any


class Incident(_Strict):
    id: str
    title: Title
    severity: Severity
    status: Status
    state: State
    public_message: Message
    components: Components = []
    source: Literal["manual"] | AlertSource = "manual"
    started_at: UtcDateTime
    updated_at: UtcDateTime
    acknowledged_at: UtcDateTime | None = None
    resolved_at: UtcDateTime | None = None
    updates: Annotated[list[Update], Field(max_length=MAX_UPDATES)] = []


# Fields an update may change in place; `id`, `source`, `started_at` and `updates` never change this way.
MUTABLE_FIELDS = (
    "title", "severity", "status", "state", "public_message", "components",
    "updated_at", "acknowledged_at", "resolved_at",
)


class NewIncident(_Strict):
    """Body of POST /v1/admin/incidents."""

    title: Title
    severity: Severity
    public_message: Message
    status: Status = Status.investigating
    state: Literal["draft", "published"] = "published"
    components: Components = []
    started_at: UtcDateTime | None = None
    note: Note | None = None


class IncidentChange(_Strict):
    """Body of PATCH /v1/admin/incidents/{id}: any of the public fields, and an internal note."""

    status: Status | None = None
    severity: Severity | None = None
    title: Title | None = None
    public_message: Message | None = None
    components: Components | None = None
    note: Note | None = None
    reopen: bool = False  # the only way back from `resolved`


class Confirmation(_Strict):
    """Body of POST /v1/admin/incidents/{id}/confirm: the draft's words, edited if need be."""

    title: Title | None = None
    public_message: Message | None = None
    severity: Severity | None = None
    components: Components | None = None
    note: Note | None = None


class Dismissal(_Strict):
    """Body of POST /v1/admin/incidents/{id}/dismiss."""

    reason: Note


class PublicUpdate(BaseModel):
    id: str
    at: UtcDateTime
    status: Status
    severity: Severity
    message: dict[str, str] | None = None


class PublicIncident(BaseModel):
    """What anyone on the internet may read: no state, author, note, alert or acknowledgement."""

    id: str
    title: dict[str, str]
    severity: Severity
    status: Status
    public_message: dict[str, str]
    components: list[str]
    started_at: UtcDateTime
    updated_at: UtcDateTime
    resolved_at: UtcDateTime | None
    updates: list[PublicUpdate]

    @classmethod
    def of(cls, incident: Incident) -> PublicIncident:
        if incident.state is not State.published:
            raise ValueError(f"incident {incident.id} is {incident.state.value}, not public")
        return cls(
            **incident.model_dump(include=set(cls.model_fields) - {"updates"}),
            updates=[
                PublicUpdate(**u.model_dump(include=set(PublicUpdate.model_fields)))
                for u in incident.updates
                if u.visibility is Visibility.public
            ],
        )
