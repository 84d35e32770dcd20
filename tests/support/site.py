"""Pytest plugin: site sinks under test, and the whole status site served by the local host.

`site_sink` is parametrised over the directory sink and the Blob sink (on Azurite; marked `azurite`), so a test that
uses it runs on both. Each gives a fresh, empty target, a second sink object on the same target (another publisher,
as a second Function App instance would be) and `fetch(path)`: a visitor's plain GET (the local host's static files
for a directory, the blob's own URL for Blob Storage, whose container is made with anonymous read access).

`status_site` serves function_app.app AND the published directory through one LocalHost, as `make run` does, on a
SQLite store and a clock that starts at the real current time (the page's script compares times with the browser's).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import azure.functions as func
import pytest
import requests

from incidents import bootstrap
from incidents.localhost import LocalHost
from incidents.settings import load_settings
from incidents.site.publisher import Publisher
from incidents.site.sink import SiteSink
from tests.support.api import FUNCTION_KEY, Api, Clock


@dataclass
class SinkUnderTest:
    kind: str
    sink: SiteSink
    another: Callable[[], SiteSink]  # a second, independent sink object on the same target
    fetch: Callable[[str], requests.Response]


@pytest.fixture(params=[pytest.param("directory", id="directory"),
                        pytest.param("blob", id="blob", marks=pytest.mark.azurite)])
def site_sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SinkUnderTest]:
    if request.param == "directory":
        from incidents.site.sink_directory import DirectorySink

        root = tmp_path / "site"
        sink = DirectorySink(root)
        with LocalHost(func.FunctionApp(), port=0, static_root=root, run_timers=False) as host:
            yield SinkUnderTest("directory", sink, lambda: DirectorySink(root),
                                lambda path: requests.get(f"{host.url}/{path}", timeout=10))
        return

    from azure.storage.blob import BlobServiceClient

    from incidents.site.sink_blob import BlobSink

    azurite = request.getfixturevalue("azurite")
    name = f"site-{uuid.uuid4().hex[:12]}"

    def sink():
        return BlobSink.for_service(BlobServiceClient.from_connection_string(azurite.connection_string), name)

    client = sink().container
    client.create_container(public_access="blob")  # anonymous GETs, as the static website endpoint allows
    yield SinkUnderTest("blob", sink(), sink,
                        lambda path: requests.get(f"{client.url}/{path}", timeout=10))
    client.delete_container()


@dataclass
class StatusSite:
    api: Api  # the admin API of the same app
    publisher: Publisher
    root: Path  # the published directory
    url: str  # the local host: the site at /, the API under /api

    def publish(self):
        return self.publisher.publish()


@pytest.fixture
def status_site(store_factory, dev_key: Path, tmp_path: Path) -> Iterator[StatusSite]:
    import function_app

    root = tmp_path / "site"
    clock = Clock(datetime.now(timezone.utc).replace(microsecond=0))
    settings = load_settings({"INCIDENTS_DEV_SIGNING_KEY": str(dev_key), "INCIDENTS_FUNCTION_KEY": FUNCTION_KEY,
                              "SITE_DIRECTORY": str(root)})
    store = store_factory("sqlite")
    bootstrap.use(bootstrap.build(settings, store=store, clock=clock))
    try:
        publisher = bootstrap.publisher_for(settings, store=store, clock=clock)
        with LocalHost(function_app.app, port=0, function_key=FUNCTION_KEY, static_root=root,
                       run_timers=False) as host:
            yield StatusSite(Api(host.url, settings, clock, dev_key), publisher, root, host.url)
    finally:
        bootstrap.shutdown()
        bootstrap.use(None)
