"""The ``route`` labels that are not route keys of the config."""

from __future__ import annotations


__all__ = ["MANAGEMENT_ROUTE", "UNROUTED"]

UNROUTED = "-"
"""The ``route`` of a message no route (not even ``$default``) took: AWS's Forbidden."""

MANAGEMENT_ROUTE = "@connections"
"""The ``route`` of messages posted through the management API."""
