"""Adapters of the domain's notifier port (domain/notifier.py, Slack) and pager port (domain/pager.py: Slack, email and
SMS through Azure Communication Services, and a local outbox; pagers.py picks them from the settings).

Every adapter passes its port's suite: tests/integration/test_notifier_conformance.py, test_pager_conformance.py.
"""
