"""Fixtures for the members tests: ID-porten played by the loopback provider (tests/members/idporten.py)."""

from .idporten import idporten, loopback_idporten  # noqa: F401  (fixtures)
