"""Publishing in a process of its own (bootstrap.PublishingProcess, SITE_PUBLISH_PROCESS): the serving process never
renders the site, yet every public change is published; the publishing process gives way to requests (a higher
niceness); one that dies is replaced. Each case runs a small app in a fresh interpreter, as `python -m incidents
serve` and the Functions host do, so that what this pytest process has imported does not count."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from incidents.bootstrap import PARENT_CHECK_S
from incidents.http.auth import create_dev_key

ROOT = Path(__file__).resolve().parents[2]

APP = textwrap.dedent("""
    import json, multiprocessing, os, signal, sys
    from incidents import bootstrap
    from incidents.domain.models import IncidentChange, NewIncident
    from incidents.settings import load_settings

    settings = load_settings()
    inject = sys.argv[1] == "injected"
    if inject:
        from incidents.stores.sqlite import SqliteStore
        services = bootstrap.build(settings, store=SqliteStore(settings.incidents_sqlite_path))
    else:
        services = bootstrap.build(settings)
    bootstrap.use(services)
    publisher = bootstrap.publisher_for(settings, store=services.incidents.store, clock=services.incidents.clock,
                                        maintenance_store=services.maintenance.store)
    said = {"elsewhere": publisher.elsewhere is not None}
    new = NewIncident(title={"en": "Scores are late"}, severity="sev2", public_message={"en": "Looking."})
    incident = services.incidents.create(new, author="test").incident
    said["flushed"] = publisher.flush(60)
    said["children"] = len(multiprocessing.active_children())
    said["niceness_above_ours"] = [os.getpriority(os.PRIO_PROCESS, child.pid) - os.getpriority(os.PRIO_PROCESS, 0)
                                   for child in multiprocessing.active_children()]
    if sys.argv[2:] == ["die"]:  # killed as a host kills a worker: nothing runs on the way out
        print(json.dumps([child.pid for child in multiprocessing.active_children()]), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    if sys.argv[2:] == ["kill"]:
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGKILL)
            child.join()
        services.incidents.change(incident.id, IncidentChange(public_message={"en": "Lost with the process."}),
                                  author="test")
        publisher.flush(60)
        said["error_after_kill"] = type(publisher.queue.last_error).__name__
    if sys.argv[2:] == ["break-the-sink"]:
        os.rename(settings.site_directory, str(settings.site_directory) + ".moved")
        open(settings.site_directory, "w").close()  # a file where the site's folder was
        services.incidents.change(incident.id, IncidentChange(public_message={"en": "Not published."}),
                                  author="test")
        publisher.flush(60)
        said["error"] = f"{type(publisher.queue.last_error).__name__}: {publisher.queue.last_error}"
        os.remove(settings.site_directory)
        os.rename(str(settings.site_directory) + ".moved", settings.site_directory)
    services.incidents.change(incident.id, IncidentChange(public_message={"en": "Found the cause."}), author="test")
    said["flushed_again"] = publisher.flush(60)
    said["children_at_end"] = len(multiprocessing.active_children())
    said["rendered_here"] = "incidents.site.render" in sys.modules  # Jinja2 and Babel: what a publish loads
    bootstrap.shutdown()
    print(json.dumps(said))
""")


def run_app(tmp_path: Path, *args: str, **settings: str) -> tuple[dict, str]:
    environ = {"INCIDENTS_DEV_SIGNING_KEY": str(create_dev_key(tmp_path / "dev-key.pem")),
               "INCIDENTS_SQLITE_PATH": str(tmp_path / "incidents.sqlite3"),
               "SITE_DIRECTORY": str(tmp_path / "site"), "PATH": "/usr/bin:/bin", **settings}
    done = subprocess.run([sys.executable, "-c", APP, *args], cwd=ROOT, env=environ, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout.splitlines()[-1])
    return said, (tmp_path / "site" / "index.html").read_text()


def test_a_publish_runs_in_another_process_and_the_site_shows_every_change(tmp_path):
    said, index = run_app(tmp_path, "from-settings")
    assert said == {"elsewhere": True, "flushed": True, "children": 1, "niceness_above_ours": [10],
                    "flushed_again": True, "children_at_end": 1, "rendered_here": False}
    assert "Scores are late" in index and "Found the cause." in index


def test_a_publisher_process_that_dies_is_replaced_at_the_next_publish(tmp_path):
    said, index = run_app(tmp_path, "from-settings", "kill")
    assert said["error_after_kill"] == "BrokenProcessPool" and said["flushed_again"] and not said["rendered_here"]
    assert "Found the cause." in index


def test_a_publisher_process_ends_when_the_serving_process_is_killed(tmp_path):
    """A host recycling its worker, or `serve` killed: nothing in the serving process runs on the way out, and the
    publishing process would otherwise wait for work forever, holding the store open."""
    environ = {"INCIDENTS_DEV_SIGNING_KEY": str(create_dev_key(tmp_path / "dev-key.pem")),
               "INCIDENTS_SQLITE_PATH": str(tmp_path / "incidents.sqlite3"),
               "SITE_DIRECTORY": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"}
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:  # files, not pipes: an orphan would hold those open
        returncode = subprocess.run([sys.executable, "-c", APP, "from-settings", "die"], cwd=ROOT, env=environ,
                                    stdout=stdout, stderr=stderr, timeout=240).returncode
    assert returncode == -signal.SIGKILL, err.read_text()
    (child,) = json.loads(out.read_text().splitlines()[-1])
    deadline = time.monotonic() + 10 * PARENT_CHECK_S
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(child), "the publishing process outlived the process that started it"


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit is collected by whoever adopted it, maybe never here)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_publish_that_fails_there_is_reported_here_and_the_next_one_runs_in_the_same_process(tmp_path):
    said, index = run_app(tmp_path, "from-settings", "break-the-sink")
    assert said["error"].startswith("PublishFailed: NotADirectoryError: "), said["error"]
    assert said["flushed_again"] and said["children_at_end"] == 1 and not said["rendered_here"]
    assert "Found the cause." in index


def test_publishes_stay_in_the_serving_process_when_it_is_off_or_the_store_was_handed_in(tmp_path):
    for args, settings in ((["from-settings"], {"SITE_PUBLISH_PROCESS": "false"}), (["injected"], {})):
        said, index = run_app(tmp_path, *args, **settings)
        assert said["elsewhere"] is False and said["children"] == 0 and said["rendered_here"], args
        assert "Found the cause." in index
