"""Where default data files go: the data directory's resolution order."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagegen.paths import DATA_DIR_ENV, data_dir, default_spend_log_path
from imagegen.spend.settings import AccessSettings


def test_explicit_data_dir_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert data_dir() == tmp_path / "mine"
    assert default_spend_log_path() == tmp_path / "mine" / "spend.sqlite3"


def test_xdg_state_home_then_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DATA_DIR_ENV)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert data_dir() == tmp_path / "state" / "imagegen"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".local" / "state" / "imagegen"


def test_relative_xdg_state_home_is_ignored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The XDG base directory spec: relative paths are invalid and must be ignored.
    monkeypatch.delenv(DATA_DIR_ENV)
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_dir() == tmp_path / ".local" / "state" / "imagegen"


def test_spend_log_path_when_set_is_used_as_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    assert AccessSettings().sqlite_path == tmp_path / "data" / "spend.sqlite3"
    assert AccessSettings(spend_log_path="./here.sqlite3").sqlite_path == Path("./here.sqlite3")
