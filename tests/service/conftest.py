"""Service tests use the shared fixtures of tests/conftest.py (nats_server, nc, system)."""

from tests.conftest import System

__all__ = ["System"]
