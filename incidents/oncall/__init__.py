"""The on-call wing: what people see of the roster outside the API (their calendar); its rules live in domain/."""
