"""What an incident is, what an admin may send to make or change one, and what the public may see of it.

Plain pydantic v2; nothing here knows about Azure, HTTP or storage.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from enum import StrEnum
from operator import itemgetter
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StringConstraints,
)

LOCALES = ("en", "fr", "es", "sv")
T, R = TypeVar("T"), TypeVar("R")
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


# Every time the log holds lies in this range: it excludes typos such as 0999 or 9999, and years of one to three
# digits, which no fixed-width string could sort.
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)
TIME_RANGE = f"from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d} (UTC)"


def in_range(value: datetime) -> datetime:
    """`value` in UTC, or ValueError when it has no time zone or lies outside EARLIEST..LATEST."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must include a time zone, e.g. 2026-11-26T21:43:00Z")
    try:
        utc = value.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 or 9999-12-31T23:59:59-01:00
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"must be a time {TIME_RANGE}")
    return utc


_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?")


def _time_text(value: Any) -> Any:
    """JSON gives times as text: a number is not taken for seconds since 1970."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise ValueError("must be an ISO 8601 time such as 2026-11-26T21:43:00Z, not a number")
    return value


def format_utc(value: datetime) -> str:
    """Fixed width (always four-digit years, milliseconds and Z), so that both stores compare times as strings."""
    utc = value.astimezone(timezone.utc)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


UtcDateTime = Annotated[
    datetime, BeforeValidator(_time_text), AfterValidator(in_range),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
]


def printable(text: str, limit: int = 500) -> str:
    """Outside text made safe for one log line: control characters (newlines, ANSI escapes) shown escaped."""
    text = text if len(text) <= limit else text[:limit] + "…"
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)


Locale = Literal["en", "fr", "es", "sv"]


def _plain_string_is_english(value: Any) -> Any:
    return {"en": value} if isinstance(value, str) else value


def _english_required(value: dict[str, str]) -> dict[str, str]:
    if "en" not in value:
        raise ValueError("an English text ('en') is required; 'fr', 'es' and 'sv' are optional")
    return {locale: value[locale] for locale in LOCALES if locale in value}


# Unicode's control characters (category Cc): C0, DEL and C1; new lines and tabs are allowed in multi-line text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(multiline: bool):
    control = _CONTROL_BUT_LINES if multiline else _CONTROL

    def check(text: str) -> str:
        if control.search(text):  # a regular expression: every stored text is checked again on each read
            but = " other than new lines and tabs" if multiline else " (new lines included)"
            raise ValueError(f"must not contain control characters{but}")
        if not any(unicodedata.category(c)[0] in "LNPS" for c in text):
            raise ValueError("must contain at least one visible character")
        return text
    return AfterValidator(check)


def _text(max_length: int, *, multiline: bool) -> Any:
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length),
                     _visible(multiline)]


def _localized(max_length: int, *, multiline: bool) -> Any:
    return Annotated[
        dict[Locale, _text(max_length, multiline=multiline)],
        BeforeValidator(_plain_string_is_english),
        AfterValidator(_english_required),
    ]


Title = _localized(TITLE_MAX, multiline=False)
Message = _localized(MESSAGE_MAX, multiline=True)
Note = _text(MESSAGE_MAX, multiline=True)
ComponentName = _text(80, multiline=False)


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


class PageRecord(_Strict):
    """A page, recorded on the timeline before it is sent (incidents/domain/paging.py); `key` is the page's identity:
    incident/level-N/attempt-N/person/channel."""

    key: Annotated[str, StringConstraints(max_length=300)]
    level: int = Field(ge=1)
    attempt: int = Field(ge=1)
    person_id: Annotated[str, StringConstraints(max_length=64)]
    channel: Annotated[str, StringConstraints(max_length=20)]
    who: Annotated[str, StringConstraints(max_length=40)]  # primary, secondary or a role


class PageFailure(_Strict):
    key: Annotated[str, StringConstraints(max_length=300)]
    error: Annotated[str, StringConstraints(max_length=300)]  # what the channel answered; never contact details


class UnstaffedLevel(_Strict):
    level: int = Field(ge=1)
    attempt: int = Field(ge=1)
    who: Annotated[str, StringConstraints(max_length=40)]


class PagingEvent(_Strict):
    """What an escalation sweep did, on the entry that records it: pages about to be sent, pages a channel did not
    take (after its retries), levels that came due with nobody to page."""

    pages: list[PageRecord] = []
    failed: list[PageFailure] = []
    unstaffed: list[UnstaffedLevel] = []


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
    paging: PagingEvent | None = None  # the pages this entry records, if any
    request_digest: str | None = None  # on the opening entry of a POST with an Idempotency-Key: who sent what


StopReason = Literal["acknowledged", "dismissed", "resolved", "timeline-full", "maintenance"]


class Escalation(_Strict):
    """Where an incident's escalation stands. The paging policy in force when it started is copied here, so that
    editing policy.toml never changes a running escalation; incidents/domain/escalation.py reads it as a
    PagingSnapshot (kept as JSON here: the policy's types build on this module)."""

    started_at: UtcDateTime
    policy: dict[str, Any]
    next_due_at: UtcDateTime | None = None  # when a sweep should look again; None once stopped or finished
    stopped_at: UtcDateTime | None = None
    stopped_because: StopReason | None = None


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
    acknowledged_by: Annotated[str, StringConstraints(max_length=200)] | None = None
    resolved_at: UtcDateTime | None = None
    escalation: Escalation | None = None
    updates: Annotated[list[Update], Field(max_length=MAX_UPDATES)] = []


_second = itemgetter(1)


class KeptByObject(Generic[T, R]):
    """make(obj) for objects never changed in place (models are not), kept by the object's identity while in use:
    the object is kept alive with its result, so its id() cannot be taken by another object meanwhile. Cleared
    when `limit` results are kept. Entries, and whole incidents at one version, are shared by every version of an
    incident and every read the stores answer from what they kept (store.ParsedIncidents)."""

    def __init__(self, make: Callable[[T], R], limit: int) -> None:
        self._make, self._limit = make, limit
        self._kept: dict[int, tuple[T, R]] = {}

    def __call__(self, obj: T) -> R:
        kept = self._kept.get(id(obj))
        if kept is not None and kept[0] is obj:
            return kept[1]
        made = self._make(obj)
        if len(self._kept) >= self._limit:
            self._kept.clear()
        self._kept[id(obj)] = (obj, made)
        return made

    def each(self, objs: Sequence[T]) -> list[R]:
        """make(obj) for each of `objs`, a timeline: those kept (all but the entries it gained since last seen) are
        looked up without a Python call each (a 300-entry incident's JSON in about half the time). By id alone, and
        safely: an object kept is alive, so no other object has its id."""
        kept = self._kept
        seen = len(objs)
        while seen and id(objs[seen - 1]) not in kept:
            seen -= 1
        try:
            made = list(map(_second, map(kept.__getitem__, map(id, objs[:seen]))))
        except KeyError:  # a gap further back
            return [self(obj) for obj in objs]
        return made + [self(obj) for obj in objs[seen:]]


def incident_json(incident: Incident) -> str:
    """The incident as compact UTF-8 JSON: what json.dumps(model_dump(mode="json"), ensure_ascii=False, compact)
    gives, made in time proportional to what changed: each timeline entry's JSON is made once."""
    head = _compact(incident.model_dump(mode="json", exclude={"updates"}))
    return f'{head[:-1]},"updates":[{",".join(_entry_json.each(incident.updates))}]}}'  # updates is the last field


def _compact(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


_entry_json = KeptByObject(lambda entry: _compact(entry.model_dump(mode="json")), 20_000)


# Fields an update may change in place; `id`, `source`, `started_at` and `updates` never change this way.
MUTABLE_FIELDS = (
    "title", "severity", "status", "state", "public_message", "components",
    "updated_at", "acknowledged_at", "acknowledged_by", "resolved_at", "escalation",
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
    reopen: StrictBool = False  # the only way back from `resolved`


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
        """The public face of a published incident (made once per incident object: see KeptByObject)."""
        return _public_of(incident)

    @classmethod
    def _of(cls, incident: Incident) -> PublicIncident:
        if incident.state is not State.published:
            raise ValueError(f"incident {incident.id} is {incident.state.value}, not public")
        fields = _PUBLIC_FIELDS  # model_fields is a slow property: read once
        updates = [PublicUpdate(**u.model_dump(include=fields["update"]))
                   for u in incident.updates if u.visibility is Visibility.public]
        # The public time of the last change is that of the last public entry: internal notes stay unseen.
        updated_at = max((u.at for u in updates), default=incident.started_at)
        return cls(**incident.model_dump(include=fields["incident"]), updated_at=updated_at, updates=updates)


_PUBLIC_FIELDS = {"update": frozenset(PublicUpdate.model_fields),
                  "incident": frozenset(PublicIncident.model_fields) - {"updates", "updated_at"}}
_public_of = KeptByObject(PublicIncident._of, 8192)
