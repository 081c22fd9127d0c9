"""The tests' throwaway PostgreSQL cluster (tests/postgres.py): found, or a clear skip."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests import postgres


def test_newest_debian_server_is_used(tmp_path: Path) -> None:
    for version in ("9", "13", "15"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin" / "postgres").touch()
    assert postgres.server_bin(tmp_path) == tmp_path / "15" / "bin"


def test_missing_server_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(postgres.Unavailable, match="scripts/test-postgres-deps"):
        postgres.server_bin(tmp_path)


def test_backends_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(postgres.ENV, raising=False)
    assert postgres.backends() == ["sqlite"]
    monkeypatch.setenv(postgres.ENV, "sqlite, postgresql")
    assert postgres.backends() == ["sqlite", "postgresql"]
    monkeypatch.setenv(postgres.ENV, "mysql")
    with pytest.raises(ValueError, match="mysql"):
        postgres.backends()
