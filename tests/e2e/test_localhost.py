"""The local Functions host, over real HTTP, against a small FunctionApp built here."""
from __future__ import annotations

import inspect
import json
import logging
import os
import resource
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from pathlib import Path

import azure.functions as func
import pytest
import requests

from incidents.localhost import MAX_BODY, LocalHost, load_local_settings, route_prefix_from_host_json

KEY = "test-function-key-123"
timer_calls: list[bool] = []

bp = func.Blueprint()


@bp.route(route="echo/{id}/{opt?}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({
        "type": type(req).__name__, "method": req.method, "url": req.url, "route": dict(req.route_params),
        "params": dict(req.params), "body": req.get_body().decode(), "x_custom": req.headers.get("x-custom"),
    }), mimetype="application/json")


@bp.route(route="drop", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def drop(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(status_code=204)


@bp.route(route="items/{id:int}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def item_by_number(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"number {req.route_params['id']}")


@bp.route(route="items/latest", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def item_latest(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("latest")


@bp.route(route="files/{*rest}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params.get("rest", ""))


@bp.route(route="secret", methods=["GET", "PATCH"], auth_level=func.AuthLevel.FUNCTION)
def secret(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("secret ok", headers={"X-Answer": "42"})


@bp.route(route="v1/admin/thing", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def admin_thing(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(status_code=204)


@bp.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("kaboom-internal-detail")


@bp.route(route="feed", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def feed(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("<feed/>", mimetype="application/atom+xml", headers={"Cache-Control": "no-cache"})


@bp.route(route="text", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def text(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("héllo", mimetype="text/html", charset="utf-8")


@bp.route(route="sleep", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def sleep(req: func.HttpRequest) -> func.HttpResponse:
    time.sleep(0.3)
    return func.HttpResponse("slept")


@bp.timer_trigger(schedule="%TEST_TIMER_SCHEDULE%", arg_name="tick", run_on_startup=False)
def every_second(tick: func.TimerRequest) -> None:
    assert isinstance(tick, func.TimerRequest)
    timer_calls.append(tick.past_due)
    if len(timer_calls) == 1:
        raise RuntimeError("first tick fails; the loop must go on")


app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(bp)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text("<h1>status</h1>")
    (root / "en").mkdir()
    (root / "en" / "index.html").write_text("<h1>en</h1>")
    (root / "feed.atom").write_text("<feed/>")
    (root / "status.json").write_text('{"ok": true}')
    (root / "style.css").write_text("body{}")
    (root / "app.js").write_text("1;")
    (root / "logo.svg").write_text("<svg/>")
    (root / ".publish-manifest.json").write_text('{"index.html": "h"}')
    (root / ".publish.lock").write_text("")
    (root / "en" / ".index.html.x1y2.tmp").write_text("half a page")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]")
    (root.parent / "outside.txt").write_text("do not serve me")
    return root


@pytest.fixture(scope="module")
def host(site):
    with LocalHost(app, port=0, function_key=KEY, static_root=site, run_timers=False) as h:
        yield h


def test_url_is_a_free_port(host):
    assert host.url.startswith("http://127.0.0.1:") and not host.url.endswith(":7071")


def test_route_params_query_body_and_headers_reach_a_real_http_request(host):
    r = requests.post(f"{host.url}/api/echo/abc/more?x=1&y=two", data=b"payload", headers={"X-Custom": "hi"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    got = r.json()
    assert got["type"] == "HttpRequest" and got["method"] == "POST"
    assert got["url"] == f"{host.url}/api/echo/abc/more?x=1&y=two"
    assert got["route"] == {"id": "abc", "opt": "more"}
    assert got["params"] == {"x": "1", "y": "two"}
    assert got["body"] == "payload" and got["x_custom"] == "hi"


def test_optional_param_may_be_absent_and_literals_are_case_insensitive(host):
    got = requests.get(f"{host.url}/API/Echo/abc").json()
    assert got["route"] == {"id": "abc"}
    assert requests.get(f"{host.url}/api/echo/a%20b/").json()["route"] == {"id": "a b"}


def test_constraints_literals_first_and_catch_all(host):
    assert requests.get(f"{host.url}/api/items/17").text == "number 17"
    assert requests.get(f"{host.url}/api/items/latest").text == "latest"
    assert requests.get(f"{host.url}/api/items/abc").status_code == 404
    assert requests.get(f"{host.url}/api/files/a/b/c.txt").text == "a/b/c.txt"


def test_unknown_path_is_404_and_wrong_method_is_405_with_allow(host):
    assert requests.get(f"{host.url}/api/nope").status_code == 404
    r = requests.delete(f"{host.url}/api/echo/1")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, POST"


def test_function_key_by_query_or_header(host):
    assert requests.get(f"{host.url}/api/secret?code={KEY}").text == "secret ok"
    r = requests.get(f"{host.url}/api/secret", headers={"x-functions-key": KEY})
    assert r.status_code == 200 and r.headers["X-Answer"] == "42"
    for r in (requests.get(f"{host.url}/api/secret"), requests.get(f"{host.url}/api/secret?code=wrong"),
              requests.get(f"{host.url}/api/secret", headers={"x-functions-key": "wrong"}),
              requests.post(f"{host.url}/api/v1/admin/thing", json={"a": 1})):
        assert_problem(r.status_code, r.headers, r.content, 401)
    assert requests.post(f"{host.url}/api/v1/admin/thing?code={KEY}", json={}).status_code == 204
    assert requests.get(f"{host.url}/api/echo/1").status_code == 200  # anonymous needs no key


def test_without_a_configured_key_function_routes_are_refused():
    with LocalHost(app, port=0, function_key=None, run_timers=False) as h:
        assert requests.get(f"{h.url}/api/secret?code=anything").status_code == 401
        assert requests.get(f"{h.url}/api/echo/1").status_code == 200


def test_raising_function_is_500_without_traceback_which_is_logged(host, caplog):
    with caplog.at_level(logging.INFO, logger="incidents.localhost"):
        r = requests.get(f"{host.url}/api/boom?code=SECRET-IN-QUERY")
    assert r.status_code == 500
    assert "kaboom" not in r.text and "Traceback" not in r.text
    assert "kaboom-internal-detail" in caplog.text and "Traceback" in caplog.text
    assert "GET /api/boom 500" in caplog.text and "SECRET-IN-QUERY" not in caplog.text


def test_content_type_from_mimetype_and_charset(host):
    r = requests.get(f"{host.url}/api/feed")
    assert r.headers["Content-Type"] == "application/atom+xml" and r.headers["Cache-Control"] == "no-cache"
    r = requests.get(f"{host.url}/api/text")
    assert r.headers["Content-Type"] == "text/html; charset=utf-8" and r.text == "héllo"
    assert requests.get(f"{host.url}/api/items/1").headers["Content-Type"] == "text/plain; charset=utf-8"


# Request bodies: capped, framed strictly, refused before they are read


def address(host: LocalHost) -> tuple[str, int]:
    return "127.0.0.1", int(host.url.rsplit(":", 1)[1])


def exchange(host: LocalHost, raw: bytes, *, end: bool = False, timeout: float = 5.0) -> tuple[int, dict, bytes]:
    """Send raw bytes (then end the request stream if `end`) and read until the server closes the connection."""
    with socket.create_connection(address(host), timeout=timeout) as s:
        s.sendall(raw)
        if end:
            s.shutdown(socket.SHUT_WR)
        answer = b"".join(iter(lambda: s.recv(65536), b""))
    assert answer, "the connection was dropped without an answer"
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def assert_problem(status: int, headers, body: bytes, expected: int) -> dict:
    """The host's own errors have the shape of the functions' problems (incidents/http/problems.py)."""
    from incidents.http.problems import Problem

    assert status == expected, body
    assert {k.lower(): v for k, v in headers.items()}["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert set(problem) == set(json.loads(Problem(expected, "x").response().get_body()))
    assert problem["type"] == "about:blank" and problem["status"] == expected
    assert problem["title"] == HTTPStatus(expected).phrase and problem["detail"]
    return problem


def post(path: str, *headers: str, body: bytes = b"") -> bytes:
    return "\r\n".join([f"POST {path} HTTP/1.1", "Host: x", *headers, "", ""]).encode() + body


def test_header_fields_are_found_in_any_case_and_repeated_ones_joined(host):
    raw = b"GET /api/echo/1 HTTP/1.1\r\nhOsT: x\r\nx-CUSTOM:  one \r\nX-Custom: two\r\nConnection: close\r\n\r\n"
    status, headers, body = exchange(host, raw)
    assert status == 200 and json.loads(body)["x_custom"] == "one, two"


@pytest.mark.parametrize(("raw", "expected"), [
    (b"GET /api/echo/1\r\n\r\n", 400),  # HTTP/0.9
    (b"GET /api/echo/1 HTTP/1.1 extra\r\n\r\n", 400),
    (b"GET /api/echo/1 HTTPS/1.1\r\n\r\n", 400),
    (b"GET /api/echo/1 HTTP/2.0\r\n\r\n", 505),
    (b"GET /api/echo/1 HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n", 400),  # obs-fold
    (b"GET /api/echo/1 HTTP/1.1\r\nHost : x\r\n\r\n", 400),  # space before the colon
    (b"GET /api/echo/1 HTTP/1.1\r\nno colon here\r\n\r\n", 400),
    (b"GET /api/echo/1 HTTP/1.1\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n", 431),
    (b"GET /api/echo/1 HTTP/1.1\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n", 431),
    (b"BREW /api/echo/1 HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
], ids=lambda v: repr(v[:40]) if isinstance(v, bytes) else str(v))
def test_a_request_the_host_cannot_read_is_refused_as_a_problem_and_closed(host, raw, expected):
    status, headers, body = exchange(host, raw)
    assert_problem(status, headers, body, expected)
    assert headers["connection"] == "close"


def test_a_blank_request_line_closes_the_connection_unanswered(host):
    with socket.create_connection(address(host), timeout=5) as s:
        s.sendall(b"\r\n")
        assert s.recv(100) == b""


def test_http_1_0_closes_unless_it_asks_to_keep_alive(host):
    status, _, _ = exchange(host, b"GET /api/echo/1 HTTP/1.0\r\n\r\n")  # read until closed: it was
    assert status == 200
    with socket.create_connection(address(host), timeout=5) as s:
        for _ in range(2):
            s.sendall(b"GET /api/items/latest HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            assert s.recv(1000).startswith(b"HTTP/1.1 200")


def test_the_body_cap_is_above_what_any_function_accepts_and_far_below_100_mb():
    from incidents.alerts.functions import MAX_ALERT_BYTES
    from incidents.http.problems import json_body

    limits = [MAX_ALERT_BYTES, inspect.signature(json_body).parameters["max_bytes"].default]
    assert max(limits) < MAX_BODY <= 4 * 1024 * 1024  # the functions' own 413s (with their limit) stay reachable


def test_an_oversized_content_length_is_413_before_the_body_is_sent(host):
    for path in ("/api/echo/1", "/api/drop", "/api/secret", "/api/nope", "/index.html"):
        status, headers, body = exchange(host, post(path, f"Content-Length: {MAX_BODY + 1}"))
        problem = assert_problem(status, headers, body, 413)
        assert str(MAX_BODY) in problem["detail"] and headers["connection"] == "close", path
    status, headers, body = exchange(host, post("/api/echo/1", "Content-Length: " + "9" * 5000))
    assert_problem(status, headers, body, 413)


def test_expect_100_continue_is_answered_413_without_inviting_the_body(host):
    status, headers, body = exchange(host, post("/api/echo/1", "Expect: 100-continue", "Content-Length: 50000000"))
    assert_problem(status, headers, body, 413)
    with socket.create_connection(address(host), timeout=5) as s:  # a body within the cap is invited, then read
        s.sendall(post("/api/echo/1", "Expect: 100-continue", "Content-Length: 2", "Connection: close"))
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"hi")
        answer = b"".join(iter(lambda: s.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 200") and b'"body": "hi"' in answer


def test_a_body_over_the_cap_sent_whole_gets_its_413(host):
    r = requests.post(f"{host.url}/api/echo/1", data=bytes(MAX_BODY + 1), timeout=10)
    assert_problem(r.status_code, r.headers, r.content, 413)
    r = requests.post(f"{host.url}/api/echo/1", data=iter([bytes(MAX_BODY // 2)] * 3), timeout=10)  # chunked
    assert_problem(r.status_code, r.headers, r.content, 413)
    assert requests.post(f"{host.url}/api/drop", data=bytes(MAX_BODY), timeout=10).status_code == 204


def test_five_concurrent_95_mb_bodies_are_refused_without_growing_memory(host):
    def attempt(_) -> bytes:
        megabyte = bytes(1 << 20)
        with socket.create_connection(address(host), timeout=30) as s:
            s.sendall(post("/api/drop", f"Content-Length: {95 << 20}"))
            try:
                for _ in range(95):
                    s.sendall(megabyte)
            except OSError:
                pass  # the server may stop reading once it has answered
            return s.recv(100)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, the peak of this process (host included)
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(attempt, range(5)))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert all(a.startswith(b"HTTP/1.1 413") for a in answers), answers
    assert grown_mb < 50, f"peak RSS grew by {grown_mb:.0f} MB"


@pytest.mark.parametrize("framing", [
    ["Content-Length: abc"], ["Content-Length: -1"], ["Content-Length: +5"], ["Content-Length: 1_0"],
    ["Content-Length: 0x10"], ["Content-Length: ５"], ["Content-Length: 5", "Content-Length: 6"],
    ["Content-Length: 5", "Transfer-Encoding: chunked"], ["Transfer-Encoding: gzip"],
    ["Transfer-Encoding: chunked, chunked"],
], ids=str)
def test_malformed_framing_is_400_problem(host, framing):
    status, headers, body = exchange(host, post("/api/echo/1", *framing, body=b"hello"))
    assert_problem(status, headers, body, 400)
    assert headers["connection"] == "close"


@pytest.mark.parametrize("chunks", [
    b"zz\r\nhello\r\n0\r\n\r\n", b"-1\r\nhello\r\n0\r\n\r\n", b"\r\n", b"0x5\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhelloXX0\r\n\r\n", b"5\r\nhel", b"5\r\nhello\r\n0\r\n", b"f" * 5000 + b"\r\n",
], ids=lambda c: repr(c[:20]))
def test_a_malformed_or_truncated_chunk_is_400_problem(host, chunks):
    status, headers, body = exchange(host, post("/api/echo/1", "Transfer-Encoding: chunked", body=chunks), end=True)
    assert_problem(status, headers, body, 400)


def test_a_truncated_body_is_400_and_a_huge_chunk_413(host):
    status, headers, body = exchange(host, post("/api/echo/1", "Content-Length: 10", body=b"hello"), end=True)
    assert "5 of 10" in assert_problem(status, headers, body, 400)["detail"]
    huge_chunk = b"1" + b"0" * 20 + b"\r\n"
    status, headers, body = exchange(host, post("/api/echo/1", "Transfer-Encoding: chunked", body=huge_chunk))
    assert_problem(status, headers, body, 413)


def test_chunked_body_is_read(host):
    r = requests.post(f"{host.url}/api/echo/1", data=iter([b"ab", b"cd"]))
    assert r.json()["body"] == "abcd"
    status, _, body = exchange(host, post("/api/echo/1", "Transfer-Encoding: chunked", "Connection: close",
                                          body=b"2;ext=1\r\nab\r\n2\r\ncd\r\n0\r\nX-Trailer: 1\r\n\r\n"))
    assert status == 200 and json.loads(body)["body"] == "abcd"


def test_a_body_on_a_function_route_without_its_key_is_refused_unread(host):
    status, headers, body = exchange(host, post("/api/v1/admin/thing", f"Content-Length: {MAX_BODY}"))
    assert_problem(status, headers, body, 401)


def test_keep_alive_survives_bodies(host):
    with requests.Session() as session:
        for _ in range(3):
            assert session.post(f"{host.url}/api/echo/1", data=b"x" * 1000).json()["body"] == "x" * 1000
            assert session.post(f"{host.url}/api/drop", data=iter([b"a", b"b"])).status_code == 204


def test_static_files_with_content_types(host):
    cases = {"/": "text/html", "/en/": "text/html", "/feed.atom": "application/atom+xml",
             "/status.json": "application/json", "/style.css": "text/css", "/app.js": "text/javascript",
             "/logo.svg": "image/svg+xml"}
    for path, ctype in cases.items():
        r = requests.get(host.url + path)
        assert r.status_code == 200 and r.headers["Content-Type"].split(";")[0] == ctype, path
    assert requests.get(host.url + "/").text == "<h1>status</h1>"
    r = requests.get(host.url + "/en", allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == "/en/"
    assert requests.get(host.url + "/missing.html").status_code == 404


def test_an_unknown_path_gets_the_sites_404_page_as_the_static_website_serves_it(host, tmp_path):
    missing = requests.get(host.url + "/missing.html")
    assert missing.headers["Content-Type"].startswith("application/problem+json")  # no 404.html published yet
    (host.static_root / "404.html").write_text("<h1>Page not found</h1>")
    for path in ("/missing.html", "/fr/nope/", "/en/incidents/inc-1.html"):
        r = requests.get(host.url + path)
        assert r.status_code == 404 and r.text == "<h1>Page not found</h1>", path
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"


def test_a_directory_redirect_cannot_point_at_another_site(host):
    (host.static_root / "evil.example").mkdir()
    r = requests.get(host.url + "//evil.example", allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == "/evil.example/"


@pytest.mark.parametrize("path", ["/.publish-manifest.json", "/.publish.lock", "/%2epublish.lock",
                                  "/en/.index.html.x1y2.tmp", "/.git/config", "/.git/", "/en/%2E%2E/.publish.lock"])
def test_dot_files_are_never_served(host, path):
    for method in ("GET", "HEAD"):
        r = requests.request(method, host.url + path, allow_redirects=False)
        assert r.status_code == 404 and b"index.html" not in r.content and b"[core]" not in r.content, (method, path)


def test_static_path_traversal_is_refused(host):
    port = int(host.url.rsplit(":", 1)[1])
    for raw in (b"/../outside.txt", b"/%2e%2e/outside.txt", b"/en/..%2f..%2foutside.txt"):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET " + raw + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b"".join(iter(lambda: s.recv(4096), b""))
        assert answer.startswith(b"HTTP/1.1 404") and b"do not serve me" not in answer, raw


def test_twenty_concurrent_requests_run_in_parallel(host):
    started = time.perf_counter()
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: requests.get(f"{host.url}/api/sleep"), range(20)))
    assert all(a.text == "slept" for a in answers)
    assert time.perf_counter() - started < 2.0  # serially it would be 6 s


def test_fifty_concurrent_patches_with_keys(host):
    with ThreadPoolExecutor(50) as pool:
        codes = list(pool.map(lambda _: requests.patch(f"{host.url}/api/secret?code={KEY}", data=b"x").status_code,
                              range(50)))
    assert codes == [200] * 50


def test_two_hosts_on_the_same_app_and_stop_closes_the_port(host):
    with LocalHost(app, port=0, function_key=KEY, run_timers=False) as other:
        url = other.url
        assert requests.get(f"{url}/api/items/5").text == "number 5"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/api/items/5", timeout=2)


def test_timer_fires_every_second_survives_errors_and_stops(monkeypatch):
    monkeypatch.setenv("TEST_TIMER_SCHEDULE", "* * * * * *")
    timer_calls.clear()
    h = LocalHost(app, port=0, function_key=KEY).start()
    try:
        deadline = time.monotonic() + 6
        while len(timer_calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(timer_calls) >= 3  # the first call raised; the loop went on
    finally:
        h.stop()
    count = len(timer_calls)
    time.sleep(1.5)
    assert len(timer_calls) == count


def test_run_on_startup():
    calls = []
    startup_app = func.FunctionApp()

    @startup_app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="t", run_on_startup=True)
    def yearly(t: func.TimerRequest) -> None:
        calls.append(t.past_due)

    with LocalHost(startup_app, port=0, function_key=KEY):
        deadline = time.monotonic() + 3
        while not calls and time.monotonic() < deadline:
            time.sleep(0.02)
    assert calls == [False]


@pytest.mark.parametrize("schedule, env, expected", [
    ("%TEST_BAD_SCHEDULE%", {}, "app setting '%TEST_BAD_SCHEDULE%' is not set"),
    ("%TEST_BAD_SCHEDULE%", {"TEST_BAD_SCHEDULE": "*/5 * * * *"}, "6 fields"),
    ("0 */5 * * * nope", {}, "not a valid NCRONTAB"),
])
def test_bad_schedule_fails_start_with_one_clear_line(monkeypatch, schedule, env, expected):
    monkeypatch.delenv("TEST_BAD_SCHEDULE", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    bad_app = func.FunctionApp()

    @bad_app.timer_trigger(schedule=schedule, arg_name="t")
    def broken_timer(t: func.TimerRequest) -> None:
        pass

    host = LocalHost(bad_app, port=0, function_key=KEY)
    with pytest.raises(ValueError) as err:
        host.start()
    message = str(err.value)
    assert "\n" not in message and "'broken_timer'" in message and schedule in message and expected in message
    assert LocalHost(bad_app, port=0, run_timers=False).start().stop() is None  # timers off: starts fine


def test_load_local_settings_fills_environment(tmp_path, monkeypatch):
    for key in ("LS_NEW", "LS_EMPTY", "LS_NUM"):
        monkeypatch.setenv(key, "")  # empty counts as unset (as in Core Tools); monkeypatch removes them afterwards
    monkeypatch.setenv("LS_PRESET", "from-env")
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": {
        "LS_NEW": "new", "LS_PRESET": "from-file", "LS_EMPTY": "filled", "LS_NUM": 3}}))
    values = load_local_settings(path)
    assert values == {"LS_NEW": "new", "LS_PRESET": "from-file", "LS_EMPTY": "filled", "LS_NUM": "3"}
    assert os.environ["LS_NEW"] == "new" and os.environ["LS_EMPTY"] == "filled" and os.environ["LS_NUM"] == "3"
    assert os.environ["LS_PRESET"] == "from-env"  # the environment wins over the file, like `func start`


def test_load_local_settings_missing_and_invalid(tmp_path):
    env: dict[str, str] = {}
    assert load_local_settings(tmp_path / "absent.json", env) == {} and env == {}
    bad = tmp_path / "local.settings.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError) as err:
        load_local_settings(bad, env)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_route_prefix_from_host_json(tmp_path):
    assert route_prefix_from_host_json(tmp_path / "none.json") == "api"
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    assert route_prefix_from_host_json(tmp_path / "host.json") == "api"
    (tmp_path / "host.json").write_text('{"extensions": {"http": {"routePrefix": "v"}}}')
    assert route_prefix_from_host_json(tmp_path / "host.json") == "v"
    assert route_prefix_from_host_json(Path(__file__).parents[2] / "host.json") == "api"


def test_custom_and_empty_route_prefix_with_static_fallback(site):
    with LocalHost(app, port=0, route_prefix="fn", function_key=KEY, static_root=site, run_timers=False) as h:
        assert requests.get(f"{h.url}/fn/items/3").text == "number 3"
        assert requests.get(f"{h.url}/api/items/3").status_code == 404
    with LocalHost(app, port=0, route_prefix="", function_key=KEY, static_root=site, run_timers=False) as h:
        assert requests.get(f"{h.url}/items/3").text == "number 3"
        assert requests.get(f"{h.url}/status.json").json() == {"ok": True}
