"""The on-call wing: the roster's admin API and what people see of it (their calendar); its rules live in domain/."""
