"""The Function App as the Functions host sees it: its registrations, its imports, and a call without a host."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import azure.functions as func

import function_app
from incidents.localhost import app_functions

ROOT = Path(__file__).resolve().parents[2]
HOST_JSON = json.loads((ROOT / "host.json").read_text())


def http_routes() -> dict[str, tuple[str, set[str], str]]:
    routes = {}
    for fn in app_functions(function_app.app):
        trigger = fn.get_trigger().get_dict_repr()
        if trigger["type"] == "httpTrigger":
            methods = {getattr(m, "value", m) for m in trigger.get("methods") or []}
            routes[fn.get_function_name()] = (trigger["route"], methods, getattr(trigger["authLevel"], "value", ""))
    return routes


def test_no_route_collides_with_the_hosts_builtin_admin_or_runtime_routes():
    prefix = HOST_JSON["extensions"]["http"]["routePrefix"]
    assert prefix == "api"
    for route, _, _ in http_routes().values():
        for template in (route, f"{prefix}/{route}"):
            assert not template.lower().startswith(("admin", "runtime")), template
        assert route.startswith("v1/"), f"{route} is not versioned"


def test_the_incident_api_is_registered_with_its_methods():
    assert {(r, frozenset(m)) for r, m, _ in http_routes().values()} >= {
        ("v1/admin/incidents", frozenset({"POST"})),
        ("v1/admin/incidents", frozenset({"GET", "HEAD"})),
        ("v1/admin/incidents/{id}", frozenset({"GET", "HEAD"})),
        ("v1/admin/incidents/{id}", frozenset({"PATCH"})),
        ("v1/public/incidents", frozenset({"GET", "HEAD", "OPTIONS"})),
    }
    # Admin routes check the bearer token in the app, so the host must not demand a function key as well.
    assert {level for route, _, level in http_routes().values() if "/admin/" in route} == {"anonymous"}


def test_function_app_imports_nothing_heavy_at_module_level():
    probe = "import sys, function_app; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    modules = set(loaded.stdout.split())
    for heavy in ("azure.cosmos", "azure.storage.blob", "azure.identity", "jinja2", "babel", "pydantic", "jwt",
                  "cryptography"):
        assert heavy not in modules, f"function_app imports {heavy} at module level"


def test_a_registered_function_can_be_called_without_any_host(api):
    [public] = [fn for fn in app_functions(function_app.app) if fn.get_function_name() == "public_incidents"]
    request = func.HttpRequest("GET", "http://localhost/api/v1/public/incidents", headers={}, params={},
                               route_params={}, body=b"")
    response = public.get_user_function()(request)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert json.loads(response.get_body())["incidents"] == []
