"""Shared fixtures. Each real part the tests talk to has its own plugin module under tests/support/."""

pytest_plugins = [
    "tests.support.cosmos_emulator",
    "tests.support.cosmos_fault_proxy",
    "tests.support.stores",
    "tests.support.identity",
    "tests.support.slack_sink",
    "tests.support.acs_standin",
    "tests.support.api",
    "tests.support.azurite",
    "tests.support.site",
]
