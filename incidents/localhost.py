"""A small local stand-in for the Azure Functions host (Core Tools `func start` cannot be installed here).

It runs the functions registered on a `func.FunctionApp` (never a second route table): HTTP triggers with route
templates, methods and auth levels, timer triggers on their NCRONTAB schedules, plus optional static files.

Deliberate differences from the real host: a known route hit with the wrong method answers 405 with `Allow` (the
host answers 404); the single `function_key` acts as both function key and master key (admin level); timers run in
UTC (WEBSITE_TIME_ZONE is ignored) and have no schedule monitor; repeated query keys keep the first value; bindings
other than the trigger are not supplied. Request bodies are capped at MAX_BODY (the host's default is 100 MB) and
refused from their framing before they are read; the host's own errors are problem+json, like the functions'.
Static files: never a dot-file (the directory sink's leftovers, editors' and VCS files).
"""
from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import logging
import mimetypes
import os
import re
import sys
import threading
import time
import weakref
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func
from azure.functions.timer import TimerRequest
from croniter import croniter

log = logging.getLogger(__name__)
# A bit above the largest body any function here accepts (alerts: 1 MB, incidents/alerts/functions.py; admin JSON:
# 64 KB, incidents/http/problems.py), so their own 413s still answer; Azure's host allows 100 MB.
MAX_BODY = 2 * 1024 * 1024
MAX_LINE = 4096  # a chunk-size or trailer line
MAX_HEADER_LINE, MAX_HEADERS = 65536, 100  # http.server's own limits (those of http.client.parse_headers)
_VERSION = re.compile(r"HTTP/(\d{1,10})\.(\d{1,10})", re.ASCII)
_FIELD_NAME = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")  # RFC 9110 token
CONTENT_TYPES = {".json": "application/json", ".atom": "application/atom+xml", ".svg": "image/svg+xml",
                 ".css": "text/css", ".js": "text/javascript", ".html": "text/html", ".xml": "application/xml"}
CONSTRAINTS = {"int": r"-?\d+", "long": r"-?\d+", "alpha": r"[a-z]+", "bool": r"true|false",
               "guid": r"\{?[0-9a-f]{8}-?(?:[0-9a-f]{4}-?){3}[0-9a-f]{12}\}?"}  # others: any segment
_functions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_functions_lock = threading.Lock()


def app_functions(app: func.FunctionApp) -> list:
    """`app.get_functions()` may run only once per app object: cache its result per app."""
    with _functions_lock:
        if app not in _functions:
            _functions[app] = list(app.get_functions())
        return _functions[app]


def load_local_settings(path: Path, environ=os.environ) -> dict[str, str]:
    """Put `Values` of local.settings.json into `environ` like `func start`: a variable already set to a non-empty
    value wins (Core Tools prints "Skipping 'X' from local settings as it's already defined ..."). Returns Values."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("Values", {}), dict) or data.get("IsEncrypted"):
        raise ValueError(f"{path}: expected {{\"IsEncrypted\": false, \"Values\": {{...}}}} (no encrypted settings)")
    values = {str(k): "" if v is None else str(v) for k, v in data.get("Values", {}).items()}
    for key, value in values.items():
        if not environ.get(key):
            environ[key] = value
    return values


def route_prefix_from_host_json(path: Path) -> str:
    """`extensions.http.routePrefix` from host.json ("api" when the file or the setting is absent)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return "api"
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON ({exc})") from None
    prefix = ((data.get("extensions") or {}).get("http") or {}).get("routePrefix", "api")
    return str(prefix).strip("/")


def _value(x) -> str:
    return str(getattr(x, "value", x))


class Route:
    """One HTTP trigger: its compiled route template, methods and auth level."""

    def __init__(self, fn, binding: dict):
        self.fn, self.name, self.binding_name = fn, fn.get_function_name(), binding["name"]
        self.template = (binding.get("route") or self.name).strip("/")
        self.methods = {_value(m).upper() for m in binding.get("methods") or []}  # empty: all methods
        self.auth = _value(binding.get("authLevel") or "function").lower()
        self.params, self.defaults, rank, pattern = [], {}, [], ""
        for segment in self.template.split("/"):
            sole = re.fullmatch(r"\{([^{}]+)\}", segment)
            part = ""
            for literal, param in re.findall(r"([^{}]*)(?:\{([^{}]+)\})?", segment):
                part += re.escape(literal)
                if param:
                    part += self._param(param)
            if sole and ("?" in segment or "=" in segment or "{*" in segment):
                pattern += f"(?:/{part})?"  # optional / catch-all segment: its slash is optional too
            else:
                pattern += "/" + part
            rank.append(0 if not sole else 4 if "{*" in segment else 3 if "?" in segment else
                        1 if ":" in segment else 2)
        self.rank = tuple(rank) + (9,)  # literals before parameters before optionals before catch-alls
        self.regex = re.compile("^" + pattern + "/?$", re.IGNORECASE)

    def _param(self, spec: str) -> str:  # name, name?, name:constraint, name=default, *name
        name, _, default = spec.lstrip("*").partition("=")
        name, _, constraint = name.rstrip("?").partition(":")
        self.params.append(name)
        if default:
            self.defaults[name] = default
        body = ".*" if spec.startswith("*") else CONSTRAINTS.get(constraint.split("(")[0].lower(), "[^/]+")
        return f"(?P<p{len(self.params) - 1}>{body})"

    def match(self, path: str) -> dict[str, str] | None:
        if not (m := self.regex.match(path)):
            return None
        return {**self.defaults, **{n: unquote(m[f"p{i}"]) for i, n in enumerate(self.params) if m[f"p{i}"]}}


class Timer:
    """One timer trigger: resolves `%SETTING%`, parses NCRONTAB (seconds first) and runs in its own thread."""

    def __init__(self, fn, binding: dict, environ=os.environ):
        self.fn, self.name, self.binding_name = fn, fn.get_function_name(), binding["name"]
        self.run_on_startup = bool(binding.get("runOnStartup"))
        raw = str(binding.get("schedule") or "")
        resolved = re.sub(r"%([^%]+)%", lambda m: environ.get(m.group(1), m.group(0)), raw).strip()
        problem = (f"app setting {resolved!r} is not set" if "%" in resolved else
                   "NCRONTAB needs 6 fields: {second} {minute} {hour} {day} {month} {day-of-week}"
                   if len(resolved.split()) != 6 else None if croniter.is_valid(resolved, second_at_beginning=True)
                   else "not a valid NCRONTAB expression")
        if problem:
            raise ValueError(f"timer function {self.name!r}: bad schedule {raw!r}"
                             + (f" (resolved to {resolved!r})" if resolved != raw else "") + f": {problem}")
        self.schedule, self.thread = resolved, None

    def invoke(self, past_due: bool) -> None:
        try:
            _call(self.fn, {self.binding_name: TimerRequest(past_due=past_due)})
        except Exception:
            log.exception("Executed 'Functions.%s' (Failed)", self.name)

    def loop(self, stopping: threading.Event) -> None:
        if self.run_on_startup:
            self.invoke(past_due=False)
        last = datetime.now(timezone.utc)
        while True:  # the next occurrence after now: occurrences missed while the function ran are skipped
            due = croniter(self.schedule, max(last, datetime.now(timezone.utc)), second_at_beginning=True).get_next(
                datetime)
            if stopping.wait(max(0.0, (due - datetime.now(timezone.utc)).total_seconds())):
                return
            self.invoke(past_due=(datetime.now(timezone.utc) - due).total_seconds() > 1.0)
            last = due


def _call(fn, kwargs: dict):
    result = fn.get_user_function()(**kwargs)
    return asyncio.run(result) if inspect.isawaitable(result) else result


class _Fields:
    """A request's header fields, looked up without regard to case: what the host reads of the email.message.Message
    that http.server builds with the email parser, which cost a fifth of a small request's time here."""

    def __init__(self) -> None:
        self._by_name: dict[str, list[str]] = {}

    def add(self, name: str, value: str) -> None:
        self._by_name.setdefault(name.lower(), []).append(value)

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._by_name.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        return list(self._by_name.get(name.lower(), ())) or default

    def joined(self) -> dict[str, str]:
        """Each field once (by its lowercase name), its values joined by ", " (RFC 9110 section 5.3)."""
        return {name: ", ".join(values) for name, values in self._by_name.items()}

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._by_name


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # 100 Continue, then the answer: without this, +40 ms on such a request
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    timeout = 60  # idle keep-alive connections give their thread back
    localhost: LocalHost

    def log_message(self, format, *args):  # the default logs the request line, query string (code=) included
        pass

    def handle_one_request(self):
        self._body_read, self._started, self.headers = False, time.perf_counter(), _Fields()
        super().handle_one_request()

    def parse_request(self) -> bool:
        """http.server's, for HTTP/1.0 and 1.1, with the header fields read into _Fields. A field line that is not
        `name: value` (obs-fold included) is refused, as RFC 9112 section 5 allows."""
        self.command, self.request_version, self.close_connection = None, "HTTP/1.0", True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if not words:
            return False  # as http.server: a blank line closes the connection unanswered
        version = _VERSION.fullmatch(words[-1]) if len(words) == 3 else None
        if not version:
            self.send_error(400, f"A request line is METHOD PATH HTTP/1.1, not {self.requestline[:100]!r}.")
            return False
        if int(version[1]) != 1:
            self.send_error(505, "This host speaks HTTP/1.0 and HTTP/1.1.")
            return False
        self.command, self.path, self.request_version = words
        self.close_connection = int(version[2]) == 0  # HTTP/1.0 closes, unless it asks to keep alive
        if self.path.startswith("//"):  # as http.server: "//host/x" would read as another site in a redirect
            self.path = "/" + self.path.lstrip("/")
        for _ in range(MAX_HEADERS + 1):
            line = self.rfile.readline(MAX_HEADER_LINE + 1)
            if line in (b"\r\n", b"\n", b""):
                break
            if len(line) > MAX_HEADER_LINE:
                self.send_error(431, f"A header line is over {MAX_HEADER_LINE} bytes.")
                return False
            name, colon, value = line.decode("iso-8859-1").partition(":")
            if not colon or not _FIELD_NAME.fullmatch(name):
                self.send_error(400, f"A header line is `name: value`, not {line[:100].decode('iso-8859-1')!r}.")
                return False
            self.headers.add(name, value.strip(" \t\r\n"))
        else:
            self.send_error(431, f"A request has at most {MAX_HEADERS} header lines.")
            return False
        connection = (self.headers.get("Connection") or "").lower()
        if connection in ("close", "keep-alive"):
            self.close_connection = connection == "close"
        return True  # Expect: 100-continue is answered once the body is wanted (read_body)

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (a request line, header or method it cannot take) as problem+json."""
        self.close_connection = True
        self.problem(code, message or HTTPStatus(code).description)

    def do_GET(self):
        self.localhost.dispatch(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def problem(self, status: int, detail: str, headers=()) -> None:
        """The shape of incidents/http/problems.py Problem, which this module may not import (tests compare them)."""
        body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
        self.reply(status, json.dumps(body).encode(), [("Content-Type", "application/problem+json"), *headers])

    def reply(self, status: int, body: bytes = b"", headers=()) -> None:
        if not self._body_read and (self.headers.get("Content-Length", "0") != "0" or
                                    "Transfer-Encoding" in self.headers):
            self.close_connection = True  # an unread body would corrupt the next request on this connection
        if log.isEnabledFor(logging.INFO):
            # Never the query string (it may carry code=); the path as repr() shows it, so it cannot forge a line.
            log.info("%s %s %d %.1fms", self.command, repr(urlsplit(self.path).path)[1:-1], status,
                     (time.perf_counter() - self._started) * 1000)
        self.send_response(status)
        if self.close_connection:
            self.send_header("Connection", "close")
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers_with(body if self.command != "HEAD" else b"")

    def end_headers_with(self, body: bytes) -> None:
        """The end of the headers and the body in one write: one system call and one TCP segment for small answers."""
        self._headers_buffer.append(b"\r\n" + body)
        self.flush_headers()

    def framing_problem(self) -> tuple[int, str] | None:
        """What is wrong with how the body is framed (RFC 9112 section 6), before reading any of it."""
        lengths, codings = self.headers.get_all("Content-Length", []), self.headers.get_all("Transfer-Encoding", [])
        if lengths and codings:
            return 400, "Send either Content-Length or Transfer-Encoding, not both."
        if codings and [c.strip().lower() for c in codings] != ["chunked"]:
            return 400, "The only Transfer-Encoding accepted is chunked."
        if len(lengths) > 1 or lengths and not re.fullmatch(r"[0-9]+", lengths[0].strip(), re.ASCII):
            return 400, "Content-Length must be one number of bytes."
        if lengths and (len(lengths[0].strip()) > 12 or int(lengths[0]) > MAX_BODY):
            return 413, f"The body is {lengths[0].strip()[:20]} bytes; the limit is {MAX_BODY} bytes."
        return None

    def read_body(self) -> bytes:
        """The whole body (framing already checked), at most MAX_BODY bytes; _Refused when it is not whole."""
        if self.headers.get("Expect", "").lower() == "100-continue" and self.request_version == "HTTP/1.1":
            self.send_response_only(HTTPStatus.CONTINUE)
            self.end_headers()
        if not self.headers.get("Transfer-Encoding"):
            length = int(self.headers.get("Content-Length") or 0)
            data = self._read_exactly(length) if length else b""
            self._body_read = True
            return data
        body = bytearray()
        while True:
            line = self.rfile.readline(MAX_LINE)
            size = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not re.fullmatch(rb"[0-9A-Fa-f]+", size):
                raise _Refused(400, "A chunk size is not a hexadecimal number on its own line.")
            if len(body) + (n := int(size, 16)) > MAX_BODY:
                raise _Refused(413, f"The body is over the limit of {MAX_BODY} bytes.")
            if not n:
                break
            body += self._read_exactly(n)
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _Refused(400, "A chunk is longer than its size says.")
        for _ in range(100):  # trailer lines, up to the empty line that ends the body
            line = self.rfile.readline(MAX_LINE)
            if line in (b"\r\n", b"\n"):
                self._body_read = True
                return bytes(body)
            if not line.endswith(b"\n"):
                break
        raise _Refused(400, "The chunked body does not end with an empty line.")

    def _read_exactly(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) < n:
            raise _Refused(400, f"The body ended after {len(data)} of {n} bytes.")
        return data


class _Refused(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's default backlog of 5 resets bursts of concurrent connections

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is not our error
            log.exception("error while serving %s", client_address)


class LocalHost:
    """Serve a FunctionApp's HTTP triggers under /{route_prefix}/ and run its timers; see the module docstring."""

    def __init__(self, app: func.FunctionApp, *, host: str = "127.0.0.1", port: int = 7071,
                 route_prefix: str = "api", function_key: str | None = None, static_root: Path | None = None,
                 run_timers: bool = True):
        self.app, self.host, self.port, self.function_key, self.run_timers = app, host, port, function_key, run_timers
        self.prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
        self.static_root = Path(static_root).resolve() if static_root else None
        self.routes: list[Route] = []
        self.timer_specs: list[tuple] = []
        for fn in app_functions(app):
            trigger = next((b for b in fn.get_bindings_dict()["bindings"] if _value(b["type"]).endswith("Trigger")), {})
            kind = _value(trigger.get("type"))
            if kind == "httpTrigger":
                self.routes.append(Route(fn, trigger))
            elif kind == "timerTrigger":
                self.timer_specs.append((fn, trigger))
            else:
                log.warning("function %r: trigger %r is not supported by the local host; skipped",
                            fn.get_function_name(), kind)
        self.routes.sort(key=lambda r: r.rank)
        self.timers: list[Timer] = []
        self._server: _Server | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        if not self._server:
            raise RuntimeError("LocalHost is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> LocalHost:
        timers = [Timer(fn, b) for fn, b in self.timer_specs] if self.run_timers else []  # bad schedule: raise now
        handler = type("Handler", (_Handler,), {"localhost": self})
        self._server = _Server((self.host, self.port), handler)
        self._stopping.clear()
        threading.Thread(target=self._server.serve_forever, name="localhost-http", daemon=True).start()
        for timer in timers:
            timer.thread = threading.Thread(target=timer.loop, args=(self._stopping,), daemon=True,
                                            name=f"timer-{timer.name}")
            timer.thread.start()
        self.timers = timers
        log.info("local host on %s (%d HTTP, %d timer functions)", self.url, len(self.routes), len(timers))
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        for timer in self.timers:
            timer.thread.join(timeout)
        self.timers, self._server = [], None

    def __enter__(self) -> LocalHost:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def dispatch(self, h: _Handler) -> None:
        if problem := h.framing_problem():
            return h.problem(*problem)
        path = urlsplit(h.path).path
        if self.prefix and not (path.lower() + "/").startswith(self.prefix.lower() + "/"):
            return self.serve_static(h, path)
        rest = path[len(self.prefix):] or "/"
        matches = [(r, params) for r in self.routes if (params := r.match(rest)) is not None]
        allowed = [(r, p) for r, p in matches if not r.methods or h.command in r.methods]
        if not allowed:
            if matches:
                allow = ", ".join(sorted(set().union(*(r.methods for r, _ in matches))))
                return h.problem(405, f"{h.command} is not allowed here; use {allow}.", [("Allow", allow)])
            return self.serve_static(h, path)  # no function here: the site's own api/v2/*.json may be
        route, route_params = allowed[0]
        if not self.authorized(h, route):  # before the body is read
            return h.problem(401, "This function needs its key: ?code=<function key> or an x-functions-key header.")
        try:
            body = h.read_body()
        except _Refused as refused:  # not read whole: reply() closes the connection
            return h.problem(refused.status, refused.detail)
        headers = h.headers.joined()
        params: dict[str, str] = {}
        for k, v in parse_qsl(urlsplit(h.path).query, keep_blank_values=True):
            params.setdefault(k, v)
        url = f"http://{h.headers.get('Host') or self.url.split('//')[1]}{h.path}"
        req = func.HttpRequest(h.command, url, headers=headers, params=params, route_params=route_params, body=body)
        try:
            resp = _call(route.fn, {route.binding_name: req})
        except Exception:
            log.exception("Executed 'Functions.%s' (Failed)", route.name)  # logged, never sent
            return h.problem(500, "The function failed; its error is in the host's log.")
        if not isinstance(resp, func.HttpResponse):  # the worker also accepts a plain str
            resp = func.HttpResponse(resp, status_code=200 if resp else 204)
        out = list(resp.headers.items())
        if not any(n.lower() == "content-type" for n, _ in out):  # as the Python worker does
            mt = resp.mimetype
            out.append(("Content-Type", f"{mt}; charset={resp.charset}" if mt.startswith("text/") else mt))
        h.reply(resp.status_code, resp.get_body(), out)

    def authorized(self, h: _Handler, route: Route) -> bool:
        if route.auth == "anonymous":
            return True
        if not self.function_key:
            return False
        key = self.function_key.encode()
        given = [h.headers.get("x-functions-key")]
        given += [v for k, v in parse_qsl(urlsplit(h.path).query) if k == "code"]
        return any(g is not None and hmac.compare_digest(g.encode(), key) for g in given)

    def serve_static(self, h: _Handler, path: str) -> None:
        not_found = "There is no page or function at this path."
        relative = unquote(path).lstrip("/")
        if any(part.startswith(".") for part in relative.split("/")):  # dot-files, `..` included
            return h.problem(404, not_found)
        try:
            target = (self.static_root / relative).resolve() if self.static_root else None
        except (OSError, ValueError):  # e.g. an embedded NUL
            target = None
        if not target or h.command not in ("GET", "HEAD") or not target.is_relative_to(self.static_root):
            return h.problem(404, not_found)
        if target.is_dir():
            if not path.endswith("/"):
                # "//host" would be a redirect to another site: the path is the caller's
                return h.reply(301, headers=[("Location", "/" + relative + "/")])
            target = target / "index.html"
        if not target.is_file():
            error_page = self.static_root / "404.html"  # what Blob Storage's static website serves for unknown paths
            if error_page.is_file():
                return h.reply(404, error_page.read_bytes(), [("Content-Type", "text/html; charset=utf-8")])
            return h.problem(404, not_found)
        ctype = CONTENT_TYPES.get(target.suffix.lower()) or mimetypes.guess_type(target.name)[0] or \
            "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith(("json", "xml", "javascript")):
            ctype += "; charset=utf-8"
        headers = [("Content-Type", ctype)]
        if relative.startswith(("api/v2/", "status/")) and target.suffix == ".json":  # for widgets on other sites
            headers.append(("Access-Control-Allow-Origin", "*"))
        h.reply(200, target.read_bytes(), headers)
