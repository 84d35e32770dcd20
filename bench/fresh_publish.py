"""A full publish in a process that has read and formatted nothing yet: `python -m bench.fresh_publish` reads a JSON
job on stdin ({"store": {...}, "site": directory}), imports what a publish uses and renders an empty site (so that
imports are not counted), then times one publish of the store into the empty directory and prints its report.

The serving process keeps what it parsed and formatted (the stores' parsed incidents, PublicIncident, the words of
each incident), so its publishes cost what changed; this is what a new instance's first publish costs.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def open_store(spec: dict):
    if spec["kind"] == "sqlite":
        from incidents.stores.sqlite import SqliteStore

        return SqliteStore(spec["path"])
    from incidents.stores.cosmos import CosmosStore

    return CosmosStore(spec["endpoint"], spec["database"], spec["container"], key=spec["key"],
                       verify_tls=spec["verify_tls"])


def main() -> None:
    import warnings

    from incidents.site.publisher import publish
    from incidents.site.render import render_site
    from incidents.site.sink_directory import DirectorySink

    warnings.filterwarnings("ignore", message="Unverified HTTPS request")  # the emulator's self-signed certificate
    job = json.load(sys.stdin)
    now = datetime.now(timezone.utc)
    render_site([], now=now)  # Jinja, Babel and the templates loaded: what a publish imports is not counted
    store = open_store(job["store"])
    started = time.perf_counter()
    report = publish(store, DirectorySink(Path(job["site"])), now=now)
    seconds = time.perf_counter() - started
    store.close()
    print(json.dumps({"seconds": round(seconds, 3), "files": len(report.uploaded), "bytes": report.bytes_uploaded}))


if __name__ == "__main__":
    main()
