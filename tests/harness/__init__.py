"""Shared by the suites that run real worker processes (tests/chaos, tests/security)."""
