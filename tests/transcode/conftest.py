"""Transcode sources generated once a session, for the live-server transcode tests."""

from tests.live import transcode_sources  # noqa: F401  (a fixture)
