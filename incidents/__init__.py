"""Incident response and alert routing for Azure, one package per capability around the domain.

    domain/    what an incident is and how it may change (models, workflow, service, policy), the on-call roster
               and escalation rules, and the ports the domain owns (store, notifier). Imports nothing of the
               packages below, nor Azure, HTTP or storage.
    stores/    the store port's adapters: SQLite (embedded default) and Cosmos DB.
    notify/    the notifier port's adapters: the channels that reach people (Slack).
    http/      what every HTTP function shares: problem+json, JSON in and out, bearer tokens.
    api/       the incident API's HTTP functions (admin and public).
    alerts/    Azure Monitor in: the common alert schema, intake (drafts, dedupe, grouping) and its functions.
    site/      the public status site: view model, rendering, feeds, the site sink port and its sinks, publishing.
    oncall/    the on-call wing: the roster's admin API, and a person's shifts as a calendar (icalendar).
    maintenance/  announced maintenance windows: their admin API (the rules are in domain/).
    slack/     the Slack app: its buttons act on incidents (the Interactivity Request URL, verified by signature).
    settings.py     typed settings.
    bootstrap.py    the composition root: builds and wires the pieces from Settings on first use.
    localhost.py    the local Functions host: runs function_app's own functions and timers on this machine.
    __main__.py     the command line: `python -m incidents serve | token | publish`.

Imports point inward: a wing imports the domain, and its functions.py also `http/` and the composition root; only
bootstrap.py sees every wing. tests/unit/test_architecture.py keeps it so.
"""
