"""This server's own limits in the OpenAPI document it serves. A spec's `max_wall_s` may not
exceed SILAB_MAX_WALL_S and a batch may not hold more than SILAB_MAX_BATCH items: settings, not
constants of the models, so the models' schema says the widest bound and each server narrows it
to its own here. A request its document allows is then not refused for a limit it did not
state."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.config import ApiSettings


def _narrow(schema: dict[str, Any], key: str, limit: float) -> None:
    # A bound sits in the schema itself, or in the non-null member of an `X | None` anyOf.
    for member in [schema, *schema.get("anyOf", [])]:
        if key in member:
            member[key] = min(member[key], limit)


def install_schema_limits(app: FastAPI, settings: ApiSettings) -> None:
    """Wrap app.openapi (after install_openapi_security) to state the settings' limits."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema["components"]["schemas"]
        _narrow(
            components["ExperimentSpec"]["properties"]["max_wall_s"], "maximum", settings.max_wall_s
        )
        components["ExperimentBatchCreate"]["properties"]["items"]["maxItems"] = settings.max_batch
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
