"""The stop messages of the shared session registry (pure): another node's stop names
the session to drop; our own, or anything malformed, names none."""

from __future__ import annotations

import json

import pytest

from ferrite.cluster.sessions import stopped_elsewhere, ttl_ms


def test_another_nodes_stop_names_the_session() -> None:
    message = json.dumps({"node": "n1", "session": "abc"})
    assert stopped_elsewhere(message, "n2") == "abc"
    assert stopped_elsewhere(message.encode(), "n2") == "abc"


@pytest.mark.parametrize(
    "data",
    [
        json.dumps({"node": "n2", "session": "abc"}),  # ours
        json.dumps({"node": "n1", "session": ""}),
        json.dumps({"node": "n1", "session": 5}),
        json.dumps({"node": "n1"}),
        json.dumps(["n1", "abc"]),
        "not json",
        None,
        42,
    ],
)
def test_our_own_or_malformed_messages_name_none(data: object) -> None:
    assert stopped_elsewhere(data, "n2") is None


def test_ttl_is_at_least_a_second() -> None:
    assert ttl_ms(300) == 300_000
    assert ttl_ms(0.01) == 1000
