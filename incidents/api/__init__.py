"""The incident API: HTTP functions that translate requests into calls of the domain's IncidentService."""
