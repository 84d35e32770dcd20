"""The Function App's table of contents. Each blueprint brings one family of triggers; the work is in incidents/.

Keep this file free of rules, settings, clients and heavy imports: every cold start pays for what it imports.
"""

import azure.functions as func

from incidents.alerts.functions import blueprint as alert_intake
from incidents.api.functions import blueprint as incident_api
from incidents.maintenance.functions import blueprint as maintenance_api
from incidents.oncall.functions import blueprint as oncall_roster
from incidents.site.functions import blueprint as status_site
from incidents.slack.functions import blueprint as slack_actions

app = func.FunctionApp()
app.register_functions(incident_api)
app.register_functions(alert_intake)
app.register_functions(status_site)
app.register_functions(oncall_roster)
app.register_functions(maintenance_api)
app.register_functions(slack_actions)
