"""Ferrite: a self-hosted media streaming server."""

__version__ = "0.1.0"
