"""fal adapter (`fal_ai/<app>`, LiteLLM's name for it), through fal's queue API.

Wire format, from fal's docs (docs.fal.ai "Queue" and the model API reference pages, read
2026-12-04):

- `POST {api_base}/{app}` (api_base `https://queue.fal.run`, app e.g. `fal-ai/flux/dev`) with
  `Authorization: Key <key>` and the app's JSON input. The answer is `{"request_id",
  "status_url", "response_url", "cancel_url"}`.
- `GET status_url`: `IN_QUEUE` (with `queue_position`), `IN_PROGRESS`, `COMPLETED` (which
  carries `error` / `error_type` when the run failed).
- `GET response_url`: the app's output, for image apps `{"images": [{"url", "width",
  "height", "content_type"}], "has_nsfw_concepts": [...], "seed"}`. An image flagged by the
  safety checker comes back blacked out: it is dropped and counted as filtered, and a
  result with every image flagged is CONTENT_POLICY_VIOLATION.
- `PUT cancel_url` cancels a request that has not started running.
- Image files are served from fal's CDN (`*.fal.media`), fetched without the key.

The apps' inputs differ; the ones in `FAL_APPS` are checked here (their sizes map to
`image_size` or `aspect_ratio`), any other app gets `prompt`, `num_images`, `image_size`
from `size`, and its provider params unchecked. Edit apps (Kontext: fal_edits.py) take `image_url`
and friends in the same body: an edit adapter extends `submit_body`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import ClassVar

from pydantic import JsonValue

from imagegen.errors import (
    ImageGenError,
    ProviderBadResponseError,
    ProviderNotConfiguredError,
    ProviderQuotaExceededError,
    redact_secrets,
)
from imagegen.providers.base import (
    Endpoint,
    HttpRequest,
    ModelSpec,
    ParamSpec,
    ProviderCall,
)
from imagegen.providers.fal_edits import edit_fields, with_kontext_edits
from imagegen.providers.http_errors import content_policy_error, error_for_status
from imagegen.providers.polling import (
    Finished,
    Job,
    JobStatus,
    Pending,
    PollingProvider,
    PollRun,
    job_failed,
)
from imagegen.providers.progress import JobProgress
from imagegen.providers.transport import HttpResponse
from imagegen.sizes import FreeFormRule, parse_size
from imagegen.types import (
    MAX_IMAGES_PER_REQUEST,
    MAX_PROMPT_CHARS,
    GeneratedImage,
    ProviderResult,
    ResponseFormat,
)

FAL_QUEUE_BASE = "https://queue.fal.run"
MAX_IMAGES_PER_CALL = 4
FLUX_RULE = FreeFormRule(min_edge=256, max_edge=2048, multiple_of=16)
ULTRA_RATIOS = ("21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21")

_SEED = ParamSpec(int, minimum=0, maximum=2**32 - 1)
_FLUX_PARAMS: dict[str, ParamSpec] = {
    "seed": _SEED,
    "num_inference_steps": ParamSpec(int, minimum=1, maximum=50),
    "guidance_scale": ParamSpec(float, minimum=1, maximum=20),
    "enable_safety_checker": ParamSpec(bool),
    "output_format": ParamSpec(str, choices=("jpeg", "png")),
    "acceleration": ParamSpec(str, choices=("none", "regular", "high")),
}
_PRO_PARAMS: dict[str, ParamSpec] = {
    "seed": _SEED,
    "safety_tolerance": ParamSpec(str, choices=("1", "2", "3", "4", "5", "6")),
    "output_format": ParamSpec(str, choices=("jpeg", "png")),
    "enhance_prompt": ParamSpec(bool),
}


@dataclass(frozen=True, slots=True)
class FalApp:
    """One fal app: its rules, and how it takes a size."""

    spec: ModelSpec
    by_ratio: bool = False


def _app(
    app: str,
    params: Mapping[str, ParamSpec] | None,
    *,
    rule: FreeFormRule | None = None,
    ratios: tuple[str, ...] | None = None,
) -> FalApp:
    spec = ModelSpec(
        family=app,
        params=frozenset({"n", "size", "response_format"}),
        max_prompt_chars=MAX_PROMPT_CHARS,
        max_n=MAX_IMAGES_PER_REQUEST,
        size_rule=rule,
        aspect_ratios=ratios,
        max_images_per_call=MAX_IMAGES_PER_CALL,
        # fal's CDN URLs are fetched by the gateway: callers get bytes.
        response_formats=(ResponseFormat.B64_JSON,),
        send_response_format=False,
        provider_params=params,
        default_size=None,
        known=params is not None,
    )
    return FalApp(spec, by_ratio=ratios is not None)


def _kontext(app: str) -> FalApp:
    spec = _app(app, {"seed": _SEED}).spec
    return FalApp(with_kontext_edits(replace(spec, params=frozenset({"n", "response_format"}))))


FAL_APPS: Mapping[str, FalApp] = {
    "fal-ai/flux/dev": _app("fal-ai/flux/dev", _FLUX_PARAMS, rule=FLUX_RULE),
    "fal-ai/flux/schnell": _app("fal-ai/flux/schnell", _FLUX_PARAMS, rule=FLUX_RULE),
    "fal-ai/flux-pro/v1.1": _app("fal-ai/flux-pro/v1.1", _PRO_PARAMS, rule=FLUX_RULE),
    "fal-ai/flux-pro/v1.1-ultra": _app(
        "fal-ai/flux-pro/v1.1-ultra",
        {**_PRO_PARAMS, "raw": ParamSpec(bool)},
        ratios=ULTRA_RATIOS,
    ),
    # Kontext edits: instruction edits of one image (fal_edits.py); no size of their own.
    "fal-ai/flux-pro/kontext": _kontext("fal-ai/flux-pro/kontext"),
    "fal-ai/flux-pro/kontext/max": _kontext("fal-ai/flux-pro/kontext/max"),
}


def fal_app(app: str) -> FalApp:
    return FAL_APPS.get(app) or _app(app, None)


def _request_root(app: str) -> str:
    # Status and result routes hang off the app's owner/name, not its sub-path
    # (`fal-ai/flux/dev` -> `fal-ai/flux/requests/...`).
    return "/".join(app.split("/")[:2])


# Prices of this adapter's models, in the prices.toml format (read by the gateway).
PRICE_ROWS = """
# fal: most image apps are billed per megapixel (rounded up), which no row here can express;
# only flat-priced apps are listed, the others cost "unknown".
[[price]]
providers = ["fal_ai"]
models = ["fal-ai/flux-pro/v1.1-ultra"]
basis = "per_image"
# $0.06 per image, on the app's API reference page.
source = "https://fal.ai/docs/model-api-reference/image-generation-api/flux-pro-v1.1-ultra"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.06"
"""


class FalProvider(PollingProvider):
    """queue.fal.run (and hosts speaking its API, reached with `api_base`)."""

    name: ClassVar[str] = "fal_ai"
    env_api_key: ClassVar[tuple[str, ...]] = ("FAL_KEY", "FAL_AI_API_KEY", "FAL_API_KEY")
    price_rows: ClassVar[str] = PRICE_ROWS
    env_api_base: ClassVar[tuple[str, ...]] = ("FAL_API_BASE",)
    env_api_version: ClassVar[tuple[str, ...]] = ()
    api_hosts: ClassVar[tuple[str, ...]] = ("queue.fal.run",)
    delivery_hosts: ClassVar[tuple[str, ...]] = (".fal.media", ".fal.run")

    def spec_for(self, model: str) -> ModelSpec:
        return fal_app(model).spec

    def api_base(self, endpoint: Endpoint) -> str:
        return (endpoint.api_base or FAL_QUEUE_BASE).rstrip("/")

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        if not endpoint.api_key:
            raise ProviderNotConfiguredError(
                f"no API key for fal_ai/{model}: set FAL_KEY or api_key in the config",
                metadata={"provider": self.name, "model": model},
            )

    def _headers(self, call: ProviderCall) -> dict[str, str]:
        return {"authorization": f"Key {call.endpoint.api_key}"}

    def submit_body(self, call: ProviderCall) -> dict[str, JsonValue]:
        """The app's input (an edit adds its `image_url`, `mask_url`, ... to it)."""
        params = call.params
        body: dict[str, JsonValue] = {"prompt": call.prompt, "num_images": params.n}
        if params.aspect_ratio is not None:
            body["aspect_ratio"] = params.aspect_ratio
        elif params.size not in (None, "auto"):
            size = parse_size(params.size or "")
            body["image_size"] = {"width": size.width, "height": size.height}
        body.update(params.extra)
        if call.edit is not None:
            body.update(edit_fields(call.edit))
        return body

    def build_request(self, call: ProviderCall) -> HttpRequest:
        return HttpRequest(
            method="POST",
            url=f"{self.api_base(call.endpoint)}/{call.provider_model}",
            headers=self._headers(call),
            json=self.submit_body(call),
        )

    def parse_submit(self, call: ProviderCall, response: HttpResponse) -> Job:
        payload = response.json()
        if not isinstance(payload, dict) or not isinstance(payload.get("request_id"), str):
            raise ProviderBadResponseError(
                "the provider's answer has no request_id", provider=self.name
            )
        request_id = str(payload["request_id"])
        root = f"{self.api_base(call.endpoint)}/{_request_root(call.provider_model)}"

        def url(key: str, default: str) -> str:
            value = payload.get(key)
            return value if isinstance(value, str) and value else default

        base = f"{root}/requests/{request_id}"
        return Job(
            id=request_id,
            status_url=url("status_url", f"{base}/status"),
            cancel_url=url("cancel_url", f"{base}/cancel"),
            result_url=url("response_url", base),
        )

    def status_request(self, call: ProviderCall, job: Job) -> HttpRequest:
        return HttpRequest(method="GET", url=job.status_url, headers=self._headers(call), json={})

    def cancel_request(self, call: ProviderCall, job: Job) -> HttpRequest | None:
        if job.cancel_url is None:
            return None
        return HttpRequest(method="PUT", url=job.cancel_url, headers=self._headers(call), json={})

    def read_status(self, call: ProviderCall, job: Job, payload: dict[str, JsonValue]) -> JobStatus:
        status = payload.get("status")
        if not isinstance(status, str):
            raise ProviderBadResponseError("the job status is missing", provider=self.name)
        word = status.upper()
        if word == "COMPLETED":
            error = payload.get("error")
            if error:
                message = error if isinstance(error, str) else "the run failed"
                raise job_failed(self.name, f"fal reports the run as failed: {message[:200]}")
            return Finished(payload)
        if word in ("FAILED", "CANCELED", "CANCELLED"):
            raise job_failed(self.name, f"fal reports the request as {status}")
        position = payload.get("queue_position")
        return Pending(
            JobProgress(
                word.lower(),
                queue_position=position if isinstance(position, int) else None,
            )
        )

    async def collect(self, run: PollRun, finished: Finished) -> ProviderResult:
        job = run.job
        assert job is not None and job.result_url is not None  # fal jobs always have one
        _, payload = await self.fetch_json(run, job.result_url, self._headers(run.call))
        images = payload.get("images") if isinstance(payload, dict) else None
        if not isinstance(images, list) or not images:
            raise ProviderBadResponseError("the app's result has no image list", provider=self.name)
        assert isinstance(payload, dict)
        flags = payload.get("has_nsfw_concepts")
        flagged = [bool(f) for f in flags] if isinstance(flags, list) else []
        kept: list[GeneratedImage] = []
        for index, item in enumerate(images):
            if index < len(flagged) and flagged[index]:
                continue  # blacked out by fal's safety checker
            if not isinstance(item, dict) or not isinstance(item.get("url"), str):
                raise ProviderBadResponseError("an image entry has no url", provider=self.name)
            data, mime = await self.fetch_image(run, item["url"])
            width, height = item.get("width"), item.get("height")
            kept.append(
                GeneratedImage(
                    data=data,
                    mime_type=mime,
                    width=width if isinstance(width, int) else None,
                    height=height if isinstance(height, int) else None,
                )
            )
        if not kept:
            raise content_policy_error(
                self.name, "fal's safety checker flagged every image of the request"
            )
        params = run.call.params
        return ProviderResult(
            images=kept,
            created=int(time.time()),
            size=params.aspect_ratio or params.size,
            filtered=len(images) - len(kept),
        )

    def parse_error(self, call: ProviderCall, response: HttpResponse) -> ImageGenError:
        payload = response.json()
        message = response.text(500)
        if isinstance(payload, dict):
            detail = payload.get("detail")
            if isinstance(detail, str):
                message = detail
            elif isinstance(detail, list) and detail and isinstance(detail[0], dict):
                message = str(detail[0].get("msg", message))
        lowered = message.lower()
        if response.status in (402, 403) and ("balance" in lowered or "locked" in lowered):
            return ProviderQuotaExceededError(
                redact_secrets(message), provider=self.name, upstream_status=response.status
            )
        return error_for_status(
            provider=self.name,
            status=response.status,
            message=message,
            headers=response.headers,
            caller_credentials=call.endpoint.caller_credentials,
            content_policy=response.status == 422 and "nsfw" in lowered,
        )
