"""Suite-wide isolation: no test touches the real per-user data folder."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_data(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GCAM_DESKTOP_DATA_DIR", str(tmp_path_factory.mktemp("user-data")))
