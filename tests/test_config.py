from __future__ import annotations

from pathlib import Path

import pytest

from ferrite import config

DOCS = Path(__file__).parents[1] / "docs" / "configuration.md"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [s.name for s in config.SETTINGS if f"`{config.env_name(s.name)}`" not in text]
    assert missing == [], f"undocumented settings in docs/configuration.md: {missing}"


def test_environment_and_overrides_take_precedence() -> None:
    env = {"FERRITE_PORT": "9000", "FERRITE_WATCH": "off", "FERRITE_SEGMENT_TARGET_S": "6"}
    s = config.load({"port": 9100, "host": None}, environ=env)
    assert s.port == 9100  # CLI flag beats the environment
    assert s.watch is False
    assert s.segment_target_s == 6.0
    assert s.host == "127.0.0.1"  # None means "flag not given"


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ValueError, match="FERRITE_PORT"):
        config.load(environ={"FERRITE_PORT": "eighty"})
    with pytest.raises(ValueError, match="FERRITE_WATCH"):
        config.load(environ={"FERRITE_WATCH": "maybe"})
