"""The live-server fixture for the playback tests that read the default library."""

from tests.live import live  # noqa: F401  (a fixture)
