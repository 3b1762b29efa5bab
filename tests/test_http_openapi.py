"""The HTTP door's OpenAPI document against the implementation: served as written, every
route documented, and schemathesis fuzzing the live server on loopback (no 5xx, every
response as documented)."""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from typing import Any

import aiohttp
import hypothesis
import schemathesis
from schemathesis import checks as st_checks
from schemathesis.core.result import Ok
from schemathesis.specs.openapi import checks as openapi_checks

from imagegen.config import embedded_settings
from tests.conftest import ServeFactory

# Bounded: a few seconds in all. Enough to walk every operation with valid and invalid
# bodies; the fixed cases in test_http_door.py cover the known paths.
MAX_EXAMPLES = 25


def packaged_document() -> dict[str, Any]:
    text = resources.files("imagegen.http").joinpath("openapi.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


async def test_document_is_served_as_packaged(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{served.http_base_url}/openapi.json") as response,
    ):
        assert response.status == 200
        assert response.content_type == "application/json"
        served_document = await response.json()
    assert served_document == packaged_document()
    assert served_document["openapi"].startswith("3.1.")


async def test_every_route_is_documented_and_every_documented_path_routed(
    serve: ServeFactory,
) -> None:
    served = await serve(embedded_settings())
    assert served.running.http is not None
    routed = {
        (route.method.lower(), route.resource.canonical)
        for route in served.running.http.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    schema = schemathesis.openapi.from_dict(packaged_document())
    documented = {(op.method.lower(), op.path) for op in operations(schema)}
    # The web console (its page, assets and /ui/api routes) is documented in docs/console.md,
    # not in the OpenAI-compatible API's document.
    console = {r for r in routed if r[1] in ("/", "/ui") or r[1].startswith("/ui/")}
    assert console, "the console is on by default"
    assert routed - {("get", "/health/liveness")} - console == documented


def operations(
    schema: schemathesis.BaseSchema,
) -> list[schemathesis.APIOperation[Any, Any, Any, Any]]:
    found: list[schemathesis.APIOperation[Any, Any, Any, Any]] = []
    for result in schema.get_all_operations():
        # An operation schemathesis cannot read fails here: the document must be fully valid.
        assert isinstance(result, Ok), result
        found.append(result.ok())
    return found


def _no_server_error_but_the_callers_deadline(
    ctx: Any, response: Any, case: schemathesis.Case[Any]
) -> bool | None:
    # A caller who sets a timeout too short for any deployment gets 504 DEADLINE_EXCEEDED
    # from the router before any call: that is the answer it asked for, not a server fault.
    body = case.body if isinstance(case.body, dict) else {}
    if response.status_code == 504 and "timeout" in body:
        assert response.json()["error"]["code"] == "deadline_exceeded"
        return None
    return st_checks.not_a_server_error(ctx, response, case)


def _fuzz(base_url: str) -> int:
    """Run schemathesis against every operation; returns how many cases were sent."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    checks = [
        _no_server_error_but_the_callers_deadline,
        openapi_checks.status_code_conformance,
        openapi_checks.content_type_conformance,
        openapi_checks.response_headers_conformance,
        openapi_checks.response_schema_conformance,
        openapi_checks.negative_data_rejection,
    ]
    sent = 0
    for operation in operations(schema):
        modes = [schemathesis.GenerationMode.POSITIVE]
        if operation.method.upper() == "POST":
            # Only a body can be invalid: the GET routes take no input at all.
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        for mode in modes:

            @hypothesis.settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case[Any]) -> None:
                nonlocal sent
                sent += 1
                case.call_and_validate(base_url=base_url, checks=checks, timeout=30)

            run()
    return sent


async def test_schemathesis_finds_no_5xx_and_no_undocumented_response(
    serve: ServeFactory,
) -> None:
    served = await serve(embedded_settings())
    # schemathesis is synchronous (requests); the server runs on this loop, so fuzz from a thread.
    sent = await asyncio.to_thread(_fuzz, served.http_base_url)
    assert sent >= 50
