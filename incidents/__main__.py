"""Command line: `python -m incidents serve` runs the Function App locally; `token` prints a local admin token;
`publish` publishes the status site once."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import secrets
import shlex
import sys
import time
from collections.abc import MutableMapping
from datetime import timedelta
from pathlib import Path

LOCAL_DIR = Path(".local")
DEV_KEY_FILE = LOCAL_DIR / "dev-signing-key.pem"
FUNCTION_KEY_FILE = LOCAL_DIR / "function-key"
LINK_SECRET_FILE = LOCAL_DIR / "oncall-link-secret"
OUTBOX_DIR = LOCAL_DIR / "outbox"


def prepare_local_environment(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """What `func start` would do (load local.settings.json), plus laptop defaults: a development signing key
    unless Entra ID is configured, and a function key kept in .local/. Returns lines worth printing."""
    from .http.auth import create_dev_key
    from .localhost import load_local_settings
    from .settings import ONCALL_DAILY_SCHEDULE, ONCALL_SWEEP_SCHEDULE, SITE_PUBLISH_SCHEDULE

    load_local_settings(Path("local.settings.json"), environ)
    said = []
    # Timers' %SETTING% schedules must resolve; pages on a channel without a service go to the outbox.
    for name, value in (("SITE_PUBLISH_SCHEDULE", SITE_PUBLISH_SCHEDULE),
                        ("ONCALL_SWEEP_SCHEDULE", ONCALL_SWEEP_SCHEDULE),
                        ("ONCALL_DAILY_SCHEDULE", ONCALL_DAILY_SCHEDULE),
                        ("PAGER_OUTBOX_DIRECTORY", str(OUTBOX_DIR))):
        if not environ.get(name):
            environ[name] = value
    if not environ.get("ONCALL_LINK_SECRET"):  # signs acknowledge links and calendar addresses
        environ["ONCALL_LINK_SECRET"] = _kept_secret(LINK_SECRET_FILE)
    if not any(environ.get(k) for k in ("AUTH_TENANT_ID", "AUTH_ISSUER", "AUTH_JWKS_URL", "INCIDENTS_DEV_SIGNING_KEY")):
        create_dev_key(DEV_KEY_FILE)
        environ["INCIDENTS_DEV_SIGNING_KEY"] = str(DEV_KEY_FILE)
    if not environ.get("INCIDENTS_FUNCTION_KEY"):
        if not FUNCTION_KEY_FILE.is_file():
            said.append(f"Generated a function key in {FUNCTION_KEY_FILE}: {_kept_secret(FUNCTION_KEY_FILE)}")
        environ["INCIDENTS_FUNCTION_KEY"] = _kept_secret(FUNCTION_KEY_FILE)
    return said


def _kept_secret(path: Path) -> str:
    """A random secret kept in .local/ (made on first use, readable by its owner only), so that it survives restarts."""
    if not path.is_file():
        LOCAL_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _settings_or_say_why(failure: str):
    """The settings, or None after one line on stderr that names the setting to fix."""
    from .settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        print(f"{failure}: {exc}", file=sys.stderr)
        return None


def serve(args: argparse.Namespace) -> int:
    from .bootstrap import build, use
    from .domain.store import StoreError
    from .localhost import LocalHost, route_prefix_from_host_json
    from .settings import SettingsError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    said = prepare_local_environment()
    if args.port == 0:  # take the free port now: links (acknowledge, calendar) must name it before the host starts
        args.port = _free_port(args.host)
    if args.port:  # links (Slack, hreflang, the feeds' self) point at this local host unless configured
        local = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
        os.environ.setdefault("INCIDENTS_PUBLIC_BASE_URL", f"http://{local}:{args.port}")
        if os.environ.get("SITE_SINK", "directory") == "directory":
            os.environ.setdefault("SITE_BASE_URL", f"http://{local}:{args.port}")
    settings = _settings_or_say_why("Cannot start")
    if settings is None:
        return 2
    try:
        use(build(settings))
    except (SettingsError, StoreError) as exc:  # one line that names what to fix, not a traceback
        print(f"Cannot start: {exc}", file=sys.stderr)
        return 2

    import function_app

    host = LocalHost(
        function_app.app,
        host=args.host,
        port=args.port,
        route_prefix=route_prefix_from_host_json(Path("host.json")),
        function_key=settings.incidents_function_key.get_secret_value(),
        static_root=settings.site_directory if settings.site_sink == "directory" else None,
    )
    try:
        host.start()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"Cannot start: port {args.port} on {args.host} is in use (another `make run`?). Stop it, or choose "
              f"another port: make run PORT={args.port + 1}", file=sys.stderr)
        return 2
    try:
        store = settings.cosmos_endpoint if settings.incidents_store == "cosmos" else settings.incidents_sqlite_path
        print(f"Incident service on {host.url}/api (store: {settings.incidents_store} {store})", flush=True)
        for line in said:
            print(f"  {line}", flush=True)
        if settings.incidents_dev_signing_key:
            print(f"  Admin token: TOKEN=$({shlex.quote(sys.executable)} -m incidents token)  (or: make token)",
                  flush=True)
        print(f"  Status site: {_publish_at_start(settings, host.url)}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            from .bootstrap import shutdown

            shutdown(timeout=10)
    finally:
        host.stop()
    return 0


def _free_port(host: str) -> int:
    """A port free on `host` right now, as the system gives one for port 0."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _publish_at_start(settings, url: str) -> str:
    from .bootstrap import publisher_for, services

    app = services()
    try:
        report = publisher_for(settings, store=app.incidents.store, clock=app.incidents.clock,
                               maintenance_store=app.maintenance.store).publish()
    except Exception as exc:  # the API is still worth serving; the timer tries again
        return f"not published ({type(exc).__name__}: {exc})"
    where = f"{url}/" if settings.site_sink == "directory" else settings.site_base_url or settings.site_container
    return f"{where} ({len(report.uploaded)} files uploaded, {report.unchanged} unchanged)"


def publish(args: argparse.Namespace) -> int:
    from .bootstrap import publisher_for
    from .settings import SettingsError

    prepare_local_environment()
    settings = _settings_or_say_why("Cannot publish")
    if settings is None:
        return 2
    try:
        report = publisher_for(settings, here=True).publish()
    except SettingsError as exc:
        print(f"Cannot publish: {exc}", file=sys.stderr)
        return 2
    for path in report.uploaded:
        print(path)
    where = settings.site_directory if settings.site_sink == "directory" else settings.site_container
    print(f"Published to {where}: {len(report.uploaded)} files uploaded ({report.bytes_uploaded} bytes), "
          f"{report.unchanged} unchanged, in {report.seconds * 1000:.0f} ms", file=sys.stderr)
    return 0


def token(args: argparse.Namespace) -> int:
    from .http.auth import mint_token

    prepare_local_environment()
    settings = _settings_or_say_why("Cannot make a token")
    if settings is None:
        return 2
    if not settings.incidents_dev_signing_key:
        print(
            "Cannot make a token: Entra ID is configured (AUTH_TENANT_ID). Get one with "
            f"`az account get-access-token --resource {settings.token_audience}`.",
            file=sys.stderr,
        )
        return 2
    print(mint_token(
        settings.incidents_dev_signing_key,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        roles=[args.role],
        name=args.name,
        subject=args.name.lower().replace(" ", "-"),
        expires_in=timedelta(hours=args.hours),
    ))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m incidents", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("serve", help="serve the Function App's HTTP functions and timers on this machine")
    run.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 for every interface)")
    run.add_argument("--port", type=int, default=7071,
                     help="port to listen on (default 7071, as `func start`; 0 picks a free one)")
    run.set_defaults(handler=serve)

    tok = commands.add_parser("token", help="print a bearer token signed with the local development key")
    tok.add_argument("--role", default="platform-admin", help="app role to put in the token (default platform-admin)")
    tok.add_argument("--name", default="Local Admin", help="who the token says you are")
    tok.add_argument("--hours", type=float, default=8, help="how long the token is valid (default 8)")
    tok.set_defaults(handler=token)

    pub = commands.add_parser("publish", help="publish the status site once (SITE_SINK: a directory or Blob Storage)")
    pub.set_defaults(handler=publish)

    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
