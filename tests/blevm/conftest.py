"""ble-vm tier: the host side boots the VM; the guest side (``guest/``) only runs inside it."""

from __future__ import annotations

import os

import pytest

# The guest tests need bluetoothd, /dev/vhci and root: collect them only inside the VM,
# where guest_init.sh sets SOLARMON_BLEVM_GUEST.
collect_ignore = [] if os.environ.get("SOLARMON_BLEVM_GUEST") else ["guest"]

_REPORT = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPORT] = []


@pytest.fixture
def blevm_report(request: pytest.FixtureRequest) -> list[str]:
    """Lines appended here are shown in the terminal summary (guest summary, round trips)."""
    return request.config.stash[_REPORT]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(_REPORT, [])
    if lines:
        terminalreporter.section("ble-vm")
        for line in lines:
            terminalreporter.write_line(line)
