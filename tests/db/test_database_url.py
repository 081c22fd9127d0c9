"""Which database URLs Ferrite accepts, and the driver they get."""

from __future__ import annotations

import pytest

from ferrite.db.engine import database_url


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite:////data/ferrite.db", "sqlite:////data/ferrite.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql://u:p@db:5432/ferrite", "postgresql+psycopg://u:p@db:5432/ferrite"),
        ("postgres://u@db/ferrite", "postgresql+psycopg://u@db/ferrite"),
        ("postgresql+psycopg://u@db/ferrite", "postgresql+psycopg://u@db/ferrite"),
    ],
)
def test_accepted_urls(given: str, used: str) -> None:
    assert database_url(given) == used


@pytest.mark.parametrize(
    "given", ["mysql://u@db/ferrite", "postgresql+psycopg2://u@db/x", "ferrite.db", ""]
)
def test_other_engines_are_refused(given: str) -> None:
    with pytest.raises(ValueError, match="database_url"):
        database_url(given)
