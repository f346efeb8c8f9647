"""Every test, whatever its folder: the machine's own trello-sync files stay out of it."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_secrets_of_this_machine(tmp_path_factory, monkeypatch):
    # Without TRELLO_SYNC_SECRETS_DIR, the settings read ~/.config/trello-sync/secrets
    # when it exists: a folder left there by a real `trello-sync setup` on this machine
    # must not lend its key and token to a test (nor to the CLI a test starts, which
    # inherits this environment).
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
