"""Adapters of the domain's notifier port (domain/notifier.py): the channels that tell people. Slack today.

Every adapter passes tests/integration/test_notifier_conformance.py.
"""
