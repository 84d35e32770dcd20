"""Azure Functions of the public status site: the timer that republishes it.

Changes that alter the public view also ask for a publish right away (`Publisher.request_publish`); this timer is the
safety net (a publish that failed, a Function App instance frozen before its publish ran), keeps `generated_at`
fresh, and renders the site anew when the clock moves a maintenance window (publisher.py). Its schedule is the app
setting SITE_PUBLISH_SCHEDULE: the host must be able to resolve it, so the Bicep sets it on Azure and
`python -m incidents serve` sets the default locally.
"""

from __future__ import annotations

import azure.functions as func

from ..bootstrap import publisher_for, services

blueprint = func.Blueprint()


@blueprint.timer_trigger(schedule="%SITE_PUBLISH_SCHEDULE%", arg_name="timer", run_on_startup=False)
def publish_status_site(timer: func.TimerRequest) -> None:
    app = services()
    publisher_for(app.settings, store=app.incidents.store, clock=app.incidents.clock,
                  maintenance_store=app.maintenance.store).publish()
