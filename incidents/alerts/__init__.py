"""Azure Monitor alerts in: the common alert schema (schema.py), intake into drafts with dedupe and grouping
(intake.py), and its Azure Functions, the webhook and the quiet-draft timer (functions.py)."""
