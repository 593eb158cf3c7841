"""Handlers for the jwt authorizer's end-to-end tests (events go to handlers.EVENTS)."""

from __future__ import annotations

from typing import Any

from tests.e2e.handlers import record


async def mutate_claims(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Records its event, then vandalises the authorizer claims it was given."""
    record(event)
    jwt = event["requestContext"]["authorizer"]["jwt"]
    jwt["claims"]["sub"] = "mallory"
    jwt["claims"]["cognito:groups"].append("root")
    jwt["scopes"].append("admin")
    event["requestContext"]["authorizer"]["principalId"] = "mallory"
    return {"statusCode": 200, "body": "mutated"}
