"""The live-server fixture for the HLS tests that read the default library."""

from tests.live import live  # noqa: F401  (a fixture)
