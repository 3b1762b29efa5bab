"""Black Forest Labs adapter (`black_forest_labs/<model>`, LiteLLM's name for it).

Wire format, from BFL's docs (docs.bfl.ai: the API reference, "Integration guidelines" and the
model pages, read 2026-12-04):

- `POST {api_base}/v1/{model}` with the key in the `x-key` header and a JSON body
  (`prompt`, `width`/`height` or `aspect_ratio`, `seed`, `safety_tolerance`,
  `output_format`, ...). The answer is `{"id", "polling_url"}`.
- `GET polling_url` (with `x-key`) until `status` is `Ready`; then `result.sample` is a
  signed URL of the image on a delivery host (`delivery-eu1.bfl.ai`, `delivery-us1.bfl.ai`)
  that expires after ten minutes and is not meant to be handed to end users, so the gateway
  fetches it and returns the bytes. Other statuses: `Pending`, `Request Moderated`,
  `Content Moderated` (CONTENT_POLICY_VIOLATION), `Error`, `Failed`, `Task not found`.
- The global endpoint `api.bfl.ai` answers with a regional `polling_url`
  (`api.eu1.bfl.ai`, `api.us1.bfl.ai`), so any `*.bfl.ai` host is accepted for polling, and
  nothing else (a configured api_base's own host aside).
- One image per request: `n` > 1 is fanned out by the gateway. BFL has no cancel call.
- The submit answer may state the job's `cost` in credits (with `input_mp`/`output_mp`): the
  result is then priced at that, ahead of the price rows below.

Edits (Kontext, Fill and Expand: see bfl_edits.py) use the same submit and poll: their
fields are added to `submit_body` and everything else here is reused.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
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
from imagegen.providers.bfl_edits import (
    EXPAND_EDITS,
    FILL_EDITS,
    edit_fields,
    with_kontext_edits,
)
from imagegen.providers.edit_support import EditCapability
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
    GeneratedImage,
    ProviderResult,
    ResponseFormat,
)

BFL_API_BASE = "https://api.bfl.ai"
READY = "ready"
MODERATED = frozenset({"request moderated", "content moderated"})
FAILED = frozenset({"error", "failed", "task not found"})

# Width/height models: multiples of 32 (FLUX 1.1 pro: 256..1440; FLUX.2: up to 4 MP).
FLUX1_RULE = FreeFormRule(min_edge=256, max_edge=1440, multiple_of=32)
FLUX2_RULE = FreeFormRule(min_edge=64, max_edge=4096, multiple_of=16, max_pixels=4_194_304)
# Aspect-ratio models (ultra: 21:9..9:21; Kontext: 3:7..7:3).
ULTRA_RATIOS = ("21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16", "9:21")
KONTEXT_RATIOS = ("7:3", "21:9", "16:9", "3:2", "4:3", "1:1", "3:4", "2:3", "9:16", "9:21", "3:7")

_SEED = ParamSpec(int, minimum=0, maximum=2**32 - 1)
_COMMON: dict[str, ParamSpec] = {
    "seed": _SEED,
    "safety_tolerance": ParamSpec(int, minimum=0, maximum=6),
    "output_format": ParamSpec(str, choices=("jpeg", "png", "webp")),
    "prompt_upsampling": ParamSpec(bool),
}


@dataclass(frozen=True, slots=True)
class BflModel:
    """One BFL endpoint: its rules, and whether it is sized by pixels or by ratio."""

    spec: ModelSpec
    by_ratio: bool


def _model(
    family: str,
    *,
    rule: FreeFormRule | None = None,
    ratios: tuple[str, ...] | None = None,
    extra: Mapping[str, ParamSpec] | None = None,
    default_size: str | None = "1024x1024",
) -> BflModel:
    spec = ModelSpec(
        family=family,
        params=frozenset({"n", "size", "response_format"}),
        max_prompt_chars=10_000,
        max_n=MAX_IMAGES_PER_REQUEST,
        size_rule=rule,
        aspect_ratios=ratios,
        max_images_per_call=1,
        # The gateway always fetches BFL's short-lived delivery URLs and returns bytes.
        response_formats=(ResponseFormat.B64_JSON,),
        send_response_format=False,
        provider_params={**_COMMON, **(extra or {})},
        default_size=default_size if ratios is None else None,
    )
    return BflModel(spec, by_ratio=ratios is not None)


_STEPS_GUIDANCE = {
    "steps": ParamSpec(int, minimum=1, maximum=50),
    "guidance": ParamSpec(float, minimum=1.5, maximum=10),
}


def _kontext(family: str) -> BflModel:
    model = _model(family, ratios=KONTEXT_RATIOS)
    return BflModel(with_kontext_edits(model.spec), by_ratio=True)


# Fill and Expand (docs.bfl.ai API reference): steps 15..50, guidance 1.5..100.
_FILL_PARAMS = {
    "steps": ParamSpec(int, minimum=15, maximum=50),
    "guidance": ParamSpec(float, minimum=1.5, maximum=100),
}


def _edit_only(family: str, edit: EditCapability) -> BflModel:
    """An editing endpoint: it answers at its input's size, so it takes no size of its own."""
    model = _model(family, extra=_FILL_PARAMS, default_size=None)
    spec = replace(model.spec, params=frozenset({"n", "response_format"}), edit=edit)
    return BflModel(spec, by_ratio=False)


BFL_MODELS: Mapping[str, BflModel] = {
    "flux-pro-1.1": _model("flux-pro-1.1", rule=FLUX1_RULE),
    "flux-pro-1.1-ultra": _model(
        "flux-pro-1.1-ultra", ratios=ULTRA_RATIOS, extra={"raw": ParamSpec(bool)}
    ),
    "flux-pro": _model("flux-pro", rule=FLUX1_RULE, extra=_STEPS_GUIDANCE),
    "flux-dev": _model("flux-dev", rule=FLUX1_RULE, extra=_STEPS_GUIDANCE),
    "flux-kontext-pro": _kontext("flux-kontext-pro"),
    "flux-kontext-max": _kontext("flux-kontext-max"),
    "flux-pro-1.0-fill": _edit_only("flux-pro-1.0-fill", FILL_EDITS),
    "flux-pro-1.0-expand": _edit_only("flux-pro-1.0-expand", EXPAND_EDITS),
    "flux-2-pro": _model("flux-2-pro", rule=FLUX2_RULE),
    "flux-2-max": _model("flux-2-max", rule=FLUX2_RULE),
    "flux-2-flex": _model("flux-2-flex", rule=FLUX2_RULE, extra=_STEPS_GUIDANCE),
    "flux-2-klein-4b": _model("flux-2-klein-4b", rule=FLUX2_RULE),
    "flux-2-klein-9b": _model("flux-2-klein-9b", rule=FLUX2_RULE),
}

# Other BFL endpoints pass through: sized by pixels, parameters checked by BFL.
UNKNOWN_MODEL = BflModel(
    ModelSpec(
        family="black_forest_labs",
        params=frozenset({"n", "size", "response_format"}),
        max_prompt_chars=10_000,
        max_n=MAX_IMAGES_PER_REQUEST,
        max_images_per_call=1,
        response_formats=(ResponseFormat.B64_JSON,),
        send_response_format=False,
        provider_params=None,
        known=False,
    ),
    by_ratio=False,
)


def bfl_model(model: str) -> BflModel:
    return BFL_MODELS.get(model, UNKNOWN_MODEL)


def _credits_usd(value: JsonValue) -> Decimal | None:
    """BFL's `cost` (credits, one credit = $0.01) in USD; None when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return Decimal(str(value)) / 100


def _percent(value: JsonValue) -> float | None:
    # BFL reports `progress` as a fraction on some answers and a percentage on others (unconfirmed).
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    if 0 <= number <= 1:
        return number * 100
    return number if 1 < number <= 100 else None


# Prices of this adapter's models, in the prices.toml format (read by the gateway).
PRICE_ROWS = """
# Black Forest Labs: flat prices per image for FLUX.1 / Kontext (1 credit = $0.01). FLUX.2 is
# billed per megapixel of input and output (a first-megapixel rate plus a rate per further
# megapixel) with no documented rounding: no row here. Every submit answer states its `cost`
# in credits (API reference, "cost", "input_mp", "output_mp"), which prices the result ahead
# of these rows; without it, FLUX.2 and FLUX.1 Expand [pro] (not on the pricing page) are
# reported as unknown rather than guessed.
[[price]]
providers = ["black_forest_labs"]
models = ["flux-pro-1.1", "flux-kontext-pro"]
basis = "per_image"
# FLUX1.1 [pro] and FLUX.1 Kontext [pro]: 4 credits each, 1 credit = $0.01.
source = "https://docs.bfl.ai/quick_start/pricing (4 credits)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.04"

[[price]]
providers = ["black_forest_labs"]
models = ["flux-pro-1.1-ultra"]
basis = "per_image"
source = "https://docs.bfl.ai/quick_start/pricing (FLUX1.1 [pro] Ultra and Raw: 6 credits)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.06"

[[price]]
providers = ["black_forest_labs"]
models = ["flux-kontext-max"]
basis = "per_image"
source = "https://docs.bfl.ai/quick_start/pricing (FLUX.1 Kontext [max]: 8 credits)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.08"

[[price]]
providers = ["black_forest_labs"]
models = ["flux-pro-1.0-fill"]
basis = "per_image"
source = "https://docs.bfl.ai/quick_start/pricing (FLUX.1 Fill [pro]: 5 credits)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.05"
"""


class BlackForestLabsProvider(PollingProvider):
    """api.bfl.ai (and hosts speaking its API, reached with `api_base`)."""

    name: ClassVar[str] = "black_forest_labs"
    env_api_key: ClassVar[tuple[str, ...]] = ("BFL_API_KEY",)
    price_rows: ClassVar[str] = PRICE_ROWS
    env_api_base: ClassVar[tuple[str, ...]] = ("BFL_API_BASE",)
    env_api_version: ClassVar[tuple[str, ...]] = ()
    api_hosts: ClassVar[tuple[str, ...]] = (".bfl.ai", ".bfl.ml")
    delivery_hosts: ClassVar[tuple[str, ...]] = (".bfl.ai",)

    def spec_for(self, model: str) -> ModelSpec:
        return bfl_model(model).spec

    def api_base(self, endpoint: Endpoint) -> str:
        return (endpoint.api_base or BFL_API_BASE).rstrip("/")

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        if not endpoint.api_key:
            raise ProviderNotConfiguredError(
                f"no API key for black_forest_labs/{model}: set BFL_API_KEY or api_key",
                metadata={"provider": self.name, "model": model},
            )

    def _headers(self, call: ProviderCall) -> dict[str, str]:
        return {"x-key": call.endpoint.api_key or "", "accept": "application/json"}

    def submit_body(self, call: ProviderCall) -> dict[str, JsonValue]:
        """The JSON body of the submit (an edit adds its input image or mask to it)."""
        body: dict[str, JsonValue] = {"prompt": call.prompt}
        params = call.params
        if params.aspect_ratio is not None:
            body["aspect_ratio"] = params.aspect_ratio
        elif params.size not in (None, "auto"):
            size = parse_size(params.size or "")
            body["width"], body["height"] = size.width, size.height
        body.update(params.extra)
        if call.edit is not None:
            body.update(edit_fields(call.edit))
        return body

    def build_request(self, call: ProviderCall) -> HttpRequest:
        base = self.api_base(call.endpoint)
        prefix = base if base.endswith("/v1") else f"{base}/v1"
        return HttpRequest(
            method="POST",
            url=f"{prefix}/{call.provider_model}",
            headers=self._headers(call),
            json=self.submit_body(call),
        )

    def parse_submit(self, call: ProviderCall, response: HttpResponse) -> Job:
        payload = response.json()
        if not isinstance(payload, dict):
            raise ProviderBadResponseError("the provider's answer is not JSON", provider=self.name)
        job_id, polling_url = payload.get("id"), payload.get("polling_url")
        if not isinstance(job_id, str) or not job_id:
            raise ProviderBadResponseError(
                "the provider's answer has no job id", provider=self.name
            )
        if not isinstance(polling_url, str) or not polling_url:
            # Older answers carried only the id: poll the documented get_result route.
            polling_url = f"{self.api_base(call.endpoint)}/v1/get_result?id={job_id}"
        return Job(id=job_id, status_url=polling_url, billed_usd=_credits_usd(payload.get("cost")))

    def status_request(self, call: ProviderCall, job: Job) -> HttpRequest:
        return HttpRequest(method="GET", url=job.status_url, headers=self._headers(call), json={})

    def read_status(self, call: ProviderCall, job: Job, payload: dict[str, JsonValue]) -> JobStatus:
        status = payload.get("status")
        if not isinstance(status, str):
            raise ProviderBadResponseError("the job status is missing", provider=self.name)
        word = status.strip().lower()
        if word == READY:
            return Finished(payload)
        if word in MODERATED:
            raise content_policy_error(self.name, f"black_forest_labs refused the job ({status})")
        if word in FAILED:
            raise job_failed(self.name, f"black_forest_labs reports the job as {status!r}")
        return Pending(
            JobProgress(word.replace(" ", "_"), percent=_percent(payload.get("progress")))
        )

    async def collect(self, run: PollRun, finished: Finished) -> ProviderResult:
        payload = finished.payload
        result = payload.get("result") if isinstance(payload, dict) else None
        sample = result.get("sample") if isinstance(result, dict) else None
        if not isinstance(sample, str) or not sample:
            raise ProviderBadResponseError(
                "the finished job has no result.sample", provider=self.name
            )
        data, mime = await self.fetch_image(run, sample)
        params = run.call.params
        size = params.size if params.size not in (None, "auto") else run.call.spec.default_size
        width = height = None
        if size is not None and params.aspect_ratio is None:
            parsed = parse_size(size)
            width, height = parsed.width, parsed.height
        return ProviderResult(
            images=[GeneratedImage(data=data, mime_type=mime, width=width, height=height)],
            created=int(time.time()),
            size=params.aspect_ratio or size,
            billed_usd=run.job.billed_usd if run.job is not None else None,
        )

    def parse_error(self, call: ProviderCall, response: HttpResponse) -> ImageGenError:
        payload = response.json()
        message = response.text(500)
        if isinstance(payload, dict):
            detail = payload.get("detail")
            if isinstance(detail, str):
                message = detail
            elif isinstance(detail, list) and detail and isinstance(detail[0], dict):
                # FastAPI validation errors: [{"loc": [...], "msg": "..."}]
                message = str(detail[0].get("msg", message))
        if response.status == 402:
            return ProviderQuotaExceededError(
                redact_secrets(message) or "the BFL account has no credits left",
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
