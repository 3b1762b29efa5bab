"""Run inside LiteLLM's own venv (bench/.venv-litellm), never imported by the suite.

Calls an imagegen HTTP door with the `litellm` package, as a LiteLLM user's code does, and
prints one JSON object per call: what LiteLLM handed back (images, cost, error type), so
that the test in the project's venv can assert on it. Argument: a JSON object with
base_url, key, bad_key and model.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import litellm  # type: ignore[import-not-found]  # only in bench/.venv-litellm


def described(response: Any) -> dict[str, Any]:
    hidden = getattr(response, "_hidden_params", {}) or {}
    headers = hidden.get("additional_headers") or {}
    return {
        "ok": True,
        "images": [
            {"b64_len": len(item.b64_json or ""), "url": item.url} for item in response.data
        ],
        "response_cost": hidden.get("response_cost"),
        "cost_header": headers.get("llm_provider-x-litellm-response-cost"),
    }


def failed(exc: Exception) -> dict[str, Any]:
    return {
        "ok": False,
        "type": type(exc).__name__,
        "status_code": getattr(exc, "status_code", None),
        "is_auth_error": isinstance(exc, litellm.AuthenticationError),
    }


def call(**kwargs: Any) -> dict[str, Any]:
    try:
        return described(litellm.image_generation(prompt="a lighthouse at dusk", **kwargs))
    except Exception as exc:  # the test asserts on the type LiteLLM raised
        return failed(exc)


def main() -> None:
    args = json.loads(sys.argv[1])
    base, model = args["base_url"], args["model"]
    results = {
        # LiteLLM's OpenAI provider pointed at the door (api_base, as for any OpenAI proxy).
        "openai_api_base": call(
            model=f"openai/{model}",
            api_base=f"{base}/v1",
            api_key=args["key"],
            size="256x256",
            response_format="b64_json",
        ),
        # LiteLLM's own provider for a LiteLLM proxy (it sends no response_format: dall-e-2
        # then answers with a URL, here one the door serves from its result store).
        "litellm_proxy": call(
            model=f"litellm_proxy/{model}",
            api_base=base,
            api_key=args["key"],
            size="256x256",
        ),
        "bad_key": call(
            model=f"litellm_proxy/{model}",
            api_base=base,
            api_key=args["bad_key"],
            size="256x256",
        ),
        "unknown_model": call(
            model="litellm_proxy/no-such-model",
            api_base=base,
            api_key=args["key"],
        ),
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
