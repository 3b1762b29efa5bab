"""Fake Azure OpenAI (Microsoft Foundry) image generation.

Imitates Azure OpenAI's REST reference (both URL shapes, auth, request differences,
content-filter annotations, error bodies and headers); what the gateway makes of it is in
docs/providers/azure.md. Request validation and token accounting are the OpenAI rules from
``openai_spec`` with the ``AZURE`` dialect (no 256/512 sizes, png/jpeg only).

Routes:

* ``POST /openai/deployments/{deployment}/images/generations?api-version=YYYY-MM-DD[-preview]``
  (``api-version`` required; a ``model`` in the body is tolerated and ignored, routing is by URL);
* ``POST /openai/v1/images/generations`` (``api-version`` optional; body ``model`` must name a
  deployment, else 404 ``DeploymentNotFound``).

Auth: ``api-key: <api_key>``, or ``Authorization: Bearer <entra_token>``, or — on the v1 route
only — ``Authorization: Bearer <api_key>``.

Trigger words in the prompt (whole words, case-insensitive):

* ``forbidden``   → 400 ``content_policy_violation`` with
  ``inner_error.code = "ResponsibleAIPolicyViolation"`` (the 2.5 body);
* ``ratelimit``   → 429 Azure body with ``retry-after: 7`` and ``retry-after-ms: 7000``;
* ``servererror`` → 500 ``server_error``;
* ``hang``        → the handler sleeps for an hour (handled in ``base``).

Deliberate simplifications and guesses (unconfirmed by the docs):

* an ``api-version`` that is not date-shaped answers 404 ``Resource not found`` (what Azure
  does for unknown versions); any date-shaped version is accepted and every version accepts the
  GPT image parameters;
* validation errors use the OpenAI wording inside Azure's ``{"error": {code, message, param,
  type}}`` shape, which is the same envelope;
* the 2.5 refusal body is used for GPT image deployments too (``revised_prompt`` only for
  dall-e-3); content-filter annotations are added to GPT image items as well as DALL·E ones;
* free-form gpt-image-2 sizes are accepted on Azure as on OpenAI.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from . import openai_edits as edits
from . import openai_spec as spec
from .base import STARTED_AT, FakeProvider, has_word
from .blobs import BlobStore

DEFAULT_DEPLOYMENTS: Mapping[str, str] = {"dalle3": "dall-e-3", "gpt-image-1": "gpt-image-1"}
DALLE_BLOB_ORIGIN = "https://dalleprodsec.blob.core.windows.net"
DATED_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")

DEPLOYMENT_NAME = web.RequestKey("azure_deployment", str)

_SAFE = {"filtered": False, "severity": "safe"}


def _azure_error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


class AzureError(Exception):
    """Carries a ready Azure response out of the validation steps."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def prompt_filter_results() -> dict[str, Any]:
    return {
        "hate": dict(_SAFE),
        "self_harm": dict(_SAFE),
        "sexual": dict(_SAFE),
        "violence": dict(_SAFE),
        "profanity": {"detected": False, "filtered": False},
        "jailbreak": {"detected": False, "filtered": False},
        "custom_blocklists": {"filtered": False, "details": []},
    }


def content_filter_results() -> dict[str, Any]:
    return {
        "hate": dict(_SAFE),
        "self_harm": dict(_SAFE),
        "sexual": dict(_SAFE),
        "violence": dict(_SAFE),
    }


class AzureFake(FakeProvider):
    name: ClassVar[str] = "azure"

    limit_requests: int = 6
    limit_tokens: int = 60_000
    retry_after: int = 7

    def __init__(
        self,
        api_key: str = "azure-test-key",
        deployments: Mapping[str, str] | None = None,
        entra_token: str = "entra-test-token",
        *,
        region: str = "East US",
        include_output_details: bool = False,
        self_hosted_urls: bool = False,
    ) -> None:
        self.api_key = api_key
        self.deployments: dict[str, str] = dict(
            DEFAULT_DEPLOYMENTS if deployments is None else deployments
        )
        unknown = set(self.deployments.values()) - set(spec.MODELS)
        if unknown:
            raise ValueError(f"deployments map to unknown models: {sorted(unknown)}")
        self.entra_token = entra_token
        self.region = region
        self.include_output_details = include_output_details
        self.self_hosted_urls = self_hosted_urls
        #: Seconds between SSE events.
        self.stream_interval: float = 0.0
        self.blobs = BlobStore(DALLE_BLOB_ORIGIN, ttl_seconds=24 * 3600)
        self._window = spec.UsageWindow()
        #: Every edit the fake accepted, as parsed from its multipart body.
        self.edit_requests: list[edits.EditRequest] = []
        super().__init__()

    # ----------------------------------------------------------------- base hooks

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(
            "/openai/deployments/{deployment}/images/generations", self.deployment_generations
        )
        router.add_post("/openai/v1/images/generations", self.v1_generations)
        router.add_post("/openai/deployments/{deployment}/images/edits", self.deployment_edits)
        router.add_post("/openai/v1/images/edits", self.v1_edits)
        self.blobs.add_route(router)

    def new_request_id(self) -> str:
        return str(uuid.uuid4())

    def common_headers(self, request: web.Request, response: web.StreamResponse) -> dict[str, str]:
        elapsed_ms = int((time.monotonic() - request[STARTED_AT]) * 1000)
        used_requests, used_tokens = self._window.totals()
        headers = {
            "apim-request-id": self.request_id(request),
            "x-request-id": str(uuid.uuid4()),
            "x-ms-region": self.region,
            "x-envoy-upstream-service-time": str(elapsed_ms),
            "x-ratelimit-limit-requests": str(self.limit_requests),
            "x-ratelimit-remaining-requests": str(max(self.limit_requests - used_requests, 0)),
            "x-ratelimit-limit-tokens": str(self.limit_tokens),
            "x-ratelimit-remaining-tokens": str(max(self.limit_tokens - used_tokens, 0)),
        }
        deployment = request.get(DEPLOYMENT_NAME)
        if deployment:
            headers["x-ms-deployment-name"] = deployment
        client_id = request.headers.get("x-ms-client-request-id")
        if client_id:
            headers["x-ms-client-request-id"] = client_id
        return headers

    def http_error(self, request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
        message = "Resource not found" if exc.status == 404 else exc.reason
        return _azure_error(exc.status, str(exc.status), message)

    # ----------------------------------------------------------------- handlers

    async def deployment_generations(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_auth(request, v1=False)
            api_version = request.query.get("api-version")
            if api_version is None:
                raise AzureError(
                    _azure_error(
                        400,
                        "MissingApiVersionParameter",
                        "The api-version query parameter (?api-version=) is required for all "
                        "requests.",
                    )
                )
            if not DATED_API_VERSION.fullmatch(api_version):
                raise AzureError(_azure_error(404, "404", "Resource not found"))
            deployment = request.match_info["deployment"]
            model = self._deployment(deployment)
            request[DEPLOYMENT_NAME] = deployment
            return await self._generate(request, model, api_version)
        except AzureError as err:
            return err.response
        except spec.ApiError as err:
            return err.response()

    async def v1_generations(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_auth(request, v1=True)
            body = self.recorded(request).json
            if body is None:
                raise spec.ApiError(400, spec.PARSE_ERROR)
            name = body.get("model") if isinstance(body, dict) else None
            if name is None:
                raise spec.ApiError(
                    400,
                    "Missing required parameter: 'model'.",
                    param="model",
                    code="missing_required_parameter",
                )
            if not isinstance(name, str):
                raise spec.ApiError(
                    400, "Invalid type for 'model'.", param="model", code="invalid_type"
                )
            model = self._deployment(name)
            request[DEPLOYMENT_NAME] = name
            return await self._generate(request, model, request.query.get("api-version", "v1"))
        except AzureError as err:
            return err.response
        except spec.ApiError as err:
            return err.response()

    async def deployment_edits(self, request: web.Request) -> web.StreamResponse:
        """The deployment route's edits: multipart, the deployment names the model."""
        try:
            self._check_auth(request, v1=False)
            if request.query.get("api-version") is None:
                raise AzureError(
                    _azure_error(
                        400,
                        "MissingApiVersionParameter",
                        "The api-version query parameter (?api-version=) is required for all "
                        "requests.",
                    )
                )
            deployment = request.match_info["deployment"]
            model = self._deployment(deployment)
            request[DEPLOYMENT_NAME] = deployment
            return await self._edit(request, model)
        except AzureError as err:
            return err.response
        except spec.ApiError as err:
            return err.response()

    async def v1_edits(self, request: web.Request) -> web.StreamResponse:
        """The v1 route's edits: the form's ``model`` names the deployment."""
        try:
            self._check_auth(request, v1=True)
            fields, _, _ = edits.parse_edit(
                request.headers.get("Content-Type", ""), self.recorded(request).body
            )
            name = fields.get("model")
            if not isinstance(name, str):
                raise spec.ApiError(
                    400,
                    "Missing required parameter: 'model'.",
                    param="model",
                    code="missing_required_parameter",
                )
            model = self._deployment(name)
            request[DEPLOYMENT_NAME] = name
            return await self._edit(request, model)
        except AzureError as err:
            return err.response
        except spec.ApiError as err:
            return err.response()

    async def _edit(self, request: web.Request, model: spec.ModelSpec) -> web.StreamResponse:
        fields, image_parts, mask_part = edits.parse_edit(
            request.headers.get("Content-Type", ""), self.recorded(request).body
        )
        edit = edits.validate_edit(
            fields, image_parts, mask_part, dialect=spec.AZURE, deployment_model=model
        )
        req = edit.image_request
        if has_word(req.prompt, "forbidden"):
            raise AzureError(self._policy_violation(req))
        self.edit_requests.append(edit)
        created = int(time.time())
        if req.stream:
            return await spec.stream_images(
                request,
                req,
                created,
                apply_headers=self.apply_common_headers,
                interval=self.stream_interval,
                details=self.include_output_details,
                event_prefix="image_edit",
                input_image_tokens=edit.input_image_tokens,
            )
        data = [{"b64_json": spec.b64(spec.render(req, i))} for i in range(req.n)]
        return web.json_response(
            spec.gpt_image_body(
                req,
                data,
                created,
                details=self.include_output_details,
                input_image_tokens=edit.input_image_tokens,
            )
        )

    # ----------------------------------------------------------------- pieces

    def _check_auth(self, request: web.Request, *, v1: bool) -> None:
        key = request.headers.get("api-key")
        if key is not None:
            if key == self.api_key:
                return
            raise AzureError(self._bad_key())
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            token = token.strip()
            if token == self.entra_token or (v1 and token == self.api_key):
                return
            raise AzureError(
                _azure_error(
                    401,
                    "401",
                    "Unauthorized. Access token is missing, invalid, audience is incorrect "
                    "(https://cognitiveservices.azure.com), or have expired.",
                )
            )
        raise AzureError(self._bad_key())

    @staticmethod
    def _bad_key() -> web.Response:
        return _azure_error(
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
            "provide a valid key for an active subscription and use a correct regional API "
            "endpoint for your resource.",
        )

    def _deployment(self, name: str) -> spec.ModelSpec:
        model = self.deployments.get(name)
        if model is None:
            raise AzureError(
                _azure_error(
                    404,
                    "DeploymentNotFound",
                    "The API deployment for this resource does not exist. If you created the "
                    "deployment within the last 5 minutes, please wait a moment and try again.",
                )
            )
        return spec.MODELS[model]

    async def _generate(
        self, request: web.Request, model: spec.ModelSpec, api_version: str
    ) -> web.StreamResponse:
        body = self.recorded(request).json
        if body is None:
            raise spec.ApiError(400, spec.PARSE_ERROR)
        if not isinstance(body, dict):
            raise spec.ApiError(400, "The request body must be a JSON object.")
        prompt = body.get("prompt")
        prompt = prompt if isinstance(prompt, str) else ""
        if has_word(prompt, "ratelimit"):
            raise AzureError(self._rate_limited(api_version))
        if has_word(prompt, "servererror"):
            raise spec.ApiError(
                500,
                "The server had an error processing your request. Sorry about that! You can "
                "retry your request, or contact us through an Azure support request at: "
                "https://go.microsoft.com/fwlink/?linkid=2213926 if you keep seeing this error.",
                err_type="server_error",
            )

        # Routing is by deployment, so the body's ``model`` (deployment name or model id, or
        # absent) plays no part in validation.
        fields = {k: v for k, v in body.items() if k != "model"}
        req = spec.parse_request(fields, model, spec.AZURE)
        if has_word(req.prompt, "forbidden"):
            raise AzureError(self._policy_violation(req))

        self._window.add(spec.output_tokens_per_image(req) * req.n)
        created = int(time.time())
        if req.stream:
            return await spec.stream_images(
                request,
                req,
                created,
                apply_headers=self.apply_common_headers,
                interval=self.stream_interval,
                details=self.include_output_details,
            )
        items = self._items(req)
        if model.family == "gpt-image":
            payload = spec.gpt_image_body(req, items, created, details=self.include_output_details)
        else:
            payload = {"created": created, "data": items}
        return web.json_response(payload)

    def _items(self, req: spec.ImageRequest) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        origin = self.base_url if self.self_hosted_urls else self.blobs.public_origin
        for i in range(req.n):
            image = spec.render(req, i)
            item: dict[str, Any] = {}
            if req.spec.name == "dall-e-3":
                item["revised_prompt"] = spec.revised_prompt(req)
            if req.response_format == "url":
                path = f"/private/images/{uuid.uuid4()}/generated_{i:02d}.png"
                item["url"] = self.blobs.publish(path, image, "image/png", origin)
            else:
                item["b64_json"] = spec.b64(image)
            item["prompt_filter_results"] = prompt_filter_results()
            item["content_filter_results"] = content_filter_results()
            items.append(item)
        return items

    def _rate_limited(self, api_version: str) -> web.Response:
        return _azure_error(
            429,
            "429",
            "Requests to the Images_Generations_Create Operation under Azure OpenAI API version "
            f"{api_version} have exceeded call rate limit of your current OpenAI S0 pricing tier. "
            f"Please retry after {self.retry_after} seconds. Please go here: "
            "https://aka.ms/oai/quotaincrease if you would like to further increase the default "
            "rate limit.",
            **{
                "retry-after": str(self.retry_after),
                "retry-after-ms": str(self.retry_after * 1000),
                "x-ratelimit-remaining-requests": "0",
            },
        )

    @staticmethod
    def _policy_violation(req: spec.ImageRequest) -> web.Response:
        inner: dict[str, Any] = {"code": "ResponsibleAIPolicyViolation"}
        if req.spec.name == "dall-e-3":
            inner["revised_prompt"] = spec.revised_prompt(req)
        inner["content_filter_results"] = {
            "violence": {"filtered": True, "severity": "low"},
            "sexual": dict(_SAFE),
            "hate": dict(_SAFE),
            "self_harm": dict(_SAFE),
        }
        body = {
            "error": {
                "code": "content_policy_violation",
                "message": "Your request was rejected as a result of our safety system.",
                "type": "invalid_request_error",
                "inner_error": inner,
            }
        }
        return web.json_response(body, status=400)
