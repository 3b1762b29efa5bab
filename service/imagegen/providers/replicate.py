"""Replicate adapter (`replicate/<owner>/<model>` or `replicate/<owner>/<model>:<version>`).

Wire format, from Replicate's HTTP API docs and changelog (replicate.com/docs/reference/http,
"Official models" 2025-01-29, "Web URLs in prediction objects" 2025-05-19; read 2026-12-04):

- Official models: `POST {api_base}/models/{owner}/{name}/predictions` with `{"input": {...}}`;
  a pinned version: `POST {api_base}/predictions` with `{"version", "input"}`. Auth is
  `Authorization: Bearer <token>`.
- `Prefer: wait=<seconds>` (1..60) holds the answer until the prediction finishes or the time
  is up. The wait is kept short here (`prefer_wait`, default 5 s): until the answer arrives the
  gateway does not know the prediction's id, so it could not cancel it if the caller left.
  A prediction still running after the wait is polled at `urls.get`.
- A prediction's `status` is `starting`, `processing`, `succeeded`, `failed` or `canceled`;
  `output` is a file URL or a list of them (on `replicate.delivery`), `error` a message, and
  `logs` the model's log, from which a percentage is read where the model prints one.
- `POST urls.cancel` cancels it.
- Safety: FLUX models on Replicate fail a prediction whose output their checker flags
  ("NSFW content detected"): CONTENT_POLICY_VIOLATION.

Each model's input schema differs; the models in `REPLICATE_MODELS` are checked here (sizes
map to `aspect_ratio`), others get `prompt` (and `aspect_ratio` from `size`) with their
provider params unchecked. One image per prediction: the gateway fans `n` out.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
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
from imagegen.types import (
    MAX_IMAGES_PER_REQUEST,
    MAX_PROMPT_CHARS,
    GeneratedImage,
    ProviderResult,
    ResponseFormat,
)

REPLICATE_API_BASE = "https://api.replicate.com/v1"
DEFAULT_PREFER_WAIT = 5
FLUX_RATIOS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
_PERCENT = re.compile(r"(\d{1,3})%\|")
_SAFETY = re.compile(r"nsfw|safety|content polic|sensitive", re.I)

_SEED = ParamSpec(int, minimum=0, maximum=2**32 - 1)
_FORMAT = ParamSpec(str, choices=("webp", "jpg", "png"))
_SCHNELL: dict[str, ParamSpec] = {
    "seed": _SEED,
    "output_format": _FORMAT,
    "output_quality": ParamSpec(int, minimum=0, maximum=100),
    "num_inference_steps": ParamSpec(int, minimum=1, maximum=4),
    "go_fast": ParamSpec(bool),
    "megapixels": ParamSpec(str, choices=("1", "0.25")),
    "disable_safety_checker": ParamSpec(bool),
}
_DEV: dict[str, ParamSpec] = {
    **_SCHNELL,
    "num_inference_steps": ParamSpec(int, minimum=1, maximum=50),
    "guidance": ParamSpec(float, minimum=0, maximum=10),
}
_PRO: dict[str, ParamSpec] = {
    "seed": _SEED,
    "output_format": _FORMAT,
    "output_quality": ParamSpec(int, minimum=0, maximum=100),
    "safety_tolerance": ParamSpec(int, minimum=1, maximum=6),
    "prompt_upsampling": ParamSpec(bool),
}


def _spec(family: str, params: Mapping[str, ParamSpec] | None) -> ModelSpec:
    return ModelSpec(
        family=family,
        params=frozenset({"n", "size", "response_format"}),
        max_prompt_chars=MAX_PROMPT_CHARS,
        max_n=MAX_IMAGES_PER_REQUEST,
        aspect_ratios=FLUX_RATIOS,
        max_images_per_call=1,
        # Replicate's file URLs are fetched by the gateway: callers get bytes.
        response_formats=(ResponseFormat.B64_JSON,),
        send_response_format=False,
        provider_params=params,
        known=params is not None,
    )


REPLICATE_MODELS: Mapping[str, ModelSpec] = {
    "black-forest-labs/flux-schnell": _spec("black-forest-labs/flux-schnell", _SCHNELL),
    "black-forest-labs/flux-dev": _spec("black-forest-labs/flux-dev", _DEV),
    "black-forest-labs/flux-pro": _spec("black-forest-labs/flux-pro", _PRO),
    "black-forest-labs/flux-1.1-pro": _spec("black-forest-labs/flux-1.1-pro", _PRO),
    "black-forest-labs/flux-1.1-pro-ultra": _spec(
        "black-forest-labs/flux-1.1-pro-ultra", {**_PRO, "raw": ParamSpec(bool)}
    ),
}


def replicate_spec(model: str) -> ModelSpec:
    name = model.partition(":")[0]
    return REPLICATE_MODELS.get(name) or _spec(name, None)


def _percent(logs: JsonValue) -> float | None:
    # Models print tqdm bars ("  40%|████      | 2/5"): the last one is how far the run is.
    if not isinstance(logs, str):
        return None
    found = _PERCENT.findall(logs[-2000:])
    return float(min(100, int(found[-1]))) if found else None


# Prices of this adapter's models, in the prices.toml format (read by the gateway).
PRICE_ROWS = """
# Replicate: official models are billed per output image (replicate.com changelog
# 2025-01-29 "Official models"); each model page shows its price. Other models are billed by
# run time, which no row here can express: their cost is "unknown".
[[price]]
providers = ["replicate"]
models = ["black-forest-labs/flux-schnell"]
basis = "per_image"
source = "https://replicate.com/black-forest-labs/flux-schnell ($0.003 per output image)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.003"

[[price]]
providers = ["replicate"]
models = ["black-forest-labs/flux-dev"]
basis = "per_image"
source = "https://replicate.com/black-forest-labs/flux-dev ($0.025 per output image)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.025"

[[price]]
providers = ["replicate"]
models = ["black-forest-labs/flux-pro"]
basis = "per_image"
source = "https://replicate.com/black-forest-labs/flux-pro ($0.055 per image)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.055"

[[price]]
providers = ["replicate"]
models = ["black-forest-labs/flux-1.1-pro"]
basis = "per_image"
source = "https://replicate.com/black-forest-labs/flux-1.1-pro ($0.04 per output image)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.04"

[[price]]
providers = ["replicate"]
models = ["black-forest-labs/flux-1.1-pro-ultra"]
basis = "per_image"
source = "https://replicate.com/black-forest-labs/flux-1.1-pro-ultra ($0.06 per output image)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.06"
"""


class ReplicateProvider(PollingProvider):
    """api.replicate.com (and hosts speaking its API, reached with `api_base`)."""

    name: ClassVar[str] = "replicate"
    env_api_key: ClassVar[tuple[str, ...]] = ("REPLICATE_API_TOKEN", "REPLICATE_API_KEY")
    price_rows: ClassVar[str] = PRICE_ROWS
    env_api_base: ClassVar[tuple[str, ...]] = ("REPLICATE_API_BASE",)
    env_api_version: ClassVar[tuple[str, ...]] = ()
    # `prefer_wait`: seconds a submit may hold for the prediction (`Prefer: wait=N`, 1..60).
    endpoint_options: ClassVar[tuple[str, ...]] = ("poll_interval", "prefer_wait")
    api_hosts: ClassVar[tuple[str, ...]] = ("api.replicate.com",)
    delivery_hosts: ClassVar[tuple[str, ...]] = ("replicate.delivery", ".replicate.delivery")

    def spec_for(self, model: str) -> ModelSpec:
        return replicate_spec(model)

    def api_base(self, endpoint: Endpoint) -> str:
        return (endpoint.api_base or REPLICATE_API_BASE).rstrip("/")

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        if not endpoint.api_key:
            raise ProviderNotConfiguredError(
                f"no API token for replicate/{model}: set REPLICATE_API_TOKEN or api_key",
                metadata={"provider": self.name, "model": model},
            )

    def _headers(self, call: ProviderCall) -> dict[str, str]:
        return {"authorization": f"Bearer {call.endpoint.api_key}"}

    def _prefer_wait(self, call: ProviderCall) -> int:
        configured = call.endpoint.options.get("prefer_wait")
        wait = configured if isinstance(configured, int) and 1 <= configured <= 60 else None
        wait = wait or DEFAULT_PREFER_WAIT
        # Never hold the answer past the deadline.
        return max(1, min(wait, int(call.deadline.remaining()) - 1))

    def submit_input(self, call: ProviderCall) -> dict[str, JsonValue]:
        """The model's `input` (an edit adds its image fields to it)."""
        params = call.params
        values: dict[str, JsonValue] = {"prompt": call.prompt}
        if params.aspect_ratio is not None:
            values["aspect_ratio"] = params.aspect_ratio
        values.update(params.extra)
        return values

    def build_request(self, call: ProviderCall) -> HttpRequest:
        base = self.api_base(call.endpoint)
        model, _, version = call.provider_model.partition(":")
        headers = {**self._headers(call), "prefer": f"wait={self._prefer_wait(call)}"}
        body: dict[str, JsonValue] = {"input": self.submit_input(call)}
        if version:
            body["version"] = version
            url = f"{base}/predictions"
        else:
            url = f"{base}/models/{model}/predictions"
        return HttpRequest(method="POST", url=url, headers=headers, json=body)

    def parse_submit(self, call: ProviderCall, response: HttpResponse) -> Job:
        payload = response.json()
        if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
            raise ProviderBadResponseError(
                "the provider's answer has no prediction id", provider=self.name
            )
        prediction_id = str(payload["id"])
        urls = payload.get("urls")
        urls = urls if isinstance(urls, dict) else {}
        base = f"{self.api_base(call.endpoint)}/predictions/{prediction_id}"
        get, cancel = urls.get("get"), urls.get("cancel")
        return Job(
            id=prediction_id,
            status_url=get if isinstance(get, str) and get else base,
            cancel_url=cancel if isinstance(cancel, str) and cancel else f"{base}/cancel",
            finished=payload,
        )

    def status_request(self, call: ProviderCall, job: Job) -> HttpRequest:
        return HttpRequest(method="GET", url=job.status_url, headers=self._headers(call), json={})

    def cancel_request(self, call: ProviderCall, job: Job) -> HttpRequest | None:
        if job.cancel_url is None:
            return None
        return HttpRequest(method="POST", url=job.cancel_url, headers=self._headers(call), json={})

    def read_status(self, call: ProviderCall, job: Job, payload: dict[str, JsonValue]) -> JobStatus:
        status = payload.get("status")
        if not isinstance(status, str):
            raise ProviderBadResponseError("the prediction has no status", provider=self.name)
        if status == "succeeded":
            return Finished(payload)
        if status in ("failed", "canceled", "aborted"):
            error = payload.get("error")
            message = error if isinstance(error, str) else f"the prediction {status}"
            if _SAFETY.search(message):
                raise content_policy_error(self.name, f"replicate refused: {message[:200]}")
            raise job_failed(self.name, f"replicate reports the prediction {status}")
        return Pending(JobProgress(status, percent=_percent(payload.get("logs"))))

    async def collect(self, run: PollRun, finished: Finished) -> ProviderResult:
        payload = finished.payload
        output = payload.get("output") if isinstance(payload, dict) else None
        urls = [output] if isinstance(output, str) else output
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise ProviderBadResponseError(
                "the prediction's output has no file URL", provider=self.name
            )
        images = []
        for url in urls:
            assert isinstance(url, str)
            data, mime = await self.fetch_image(run, url)
            images.append(GeneratedImage(data=data, mime_type=mime))
        return ProviderResult(
            images=images, created=int(time.time()), size=run.call.params.aspect_ratio
        )

    def parse_error(self, call: ProviderCall, response: HttpResponse) -> ImageGenError:
        payload = response.json()
        message = response.text(500)
        if isinstance(payload, dict):
            # Problem details: {"title", "detail", "status"}
            detail = payload.get("detail") or payload.get("title")
            if isinstance(detail, str):
                message = detail
        if response.status == 402:
            return ProviderQuotaExceededError(
                redact_secrets(message) or "the Replicate account has no credit",
                provider=self.name,
                upstream_status=response.status,
            )
        return error_for_status(
            provider=self.name,
            status=response.status,
            message=message,
            headers=response.headers,
            caller_credentials=call.endpoint.caller_credentials,
        )
