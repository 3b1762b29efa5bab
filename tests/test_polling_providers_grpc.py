"""One LiteLLM-format config naming a model of each provider added with the polling engine
(BFL, fal, Replicate, Stability, xAI, Together, OpenRouter), served by a real grpc.aio server
on 127.0.0.1 from the fakes: ListModels, unary generation from each, streamed jobs with
progress before the image, and a streamed job cancelled upstream when the caller cancels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import grpc
import pytest
import yaml
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.conftest import TRAILER_KEYS, ServeFactory
from tests.fakes.bfl import BflFake
from tests.fakes.fal import FalFake
from tests.fakes.openrouter import OpenRouterFake
from tests.fakes.replicate import ReplicateFake
from tests.fakes.stability import StabilityFake
from tests.fakes.together import TogetherFake
from tests.fakes.xai import XaiFake

SYNC_MODELS = {
    "grok": ("xai/grok-imagine-image", "XAI_API_KEY", "xai-test-key", "/v1"),
    "flux-together": (
        "together_ai/black-forest-labs/FLUX.1-schnell",
        "TOGETHER_API_KEY",
        "together-test-key",
        "/v1",
    ),
    "nano": (
        "openrouter/google/gemini-2.5-flash-image",
        "OPENROUTER_API_KEY",
        "sk-or-test",
        "/api/v1",
    ),
    "sd-ultra": ("stability/stable-image-ultra", "STABILITY_API_KEY", "sk-stability-test", ""),
}
SyncFake = XaiFake | TogetherFake | OpenRouterFake | StabilityFake


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[BflFake, FalFake, ReplicateFake]]:
    async with BflFake() as bfl, FalFake() as fal, ReplicateFake() as replicate:
        yield bfl, fal, replicate


@pytest.fixture
async def sync_fakes() -> AsyncIterator[dict[str, SyncFake]]:
    async with (
        XaiFake() as xai,
        TogetherFake() as together,
        OpenRouterFake() as openrouter,
        StabilityFake() as stability,
    ):
        yield {"grok": xai, "flux-together": together, "nano": openrouter, "sd-ultra": stability}


def litellm_config(
    bfl: BflFake,
    fal: FalFake,
    replicate: ReplicateFake,
    sync: dict[str, SyncFake] | None = None,
) -> str:
    """What a LiteLLM proxy config for these models looks like (keys by os.environ/)."""
    entries = [
        {
            "model_name": "flux-pro",
            "litellm_params": {
                "model": "black_forest_labs/flux-pro-1.1",
                "api_key": "os.environ/BFL_API_KEY",
                "api_base": bfl.base_url,
                "poll_interval": 0.05,
            },
        },
        {
            "model_name": "flux-ultra-fal",
            "litellm_params": {
                "model": "fal_ai/fal-ai/flux-pro/v1.1-ultra",
                "api_key": "os.environ/FAL_KEY",
                "api_base": fal.base_url,
                "poll_interval": 0.05,
            },
        },
        {
            "model_name": "flux-schnell",
            "litellm_params": {
                "model": "replicate/black-forest-labs/flux-schnell",
                "api_key": "os.environ/REPLICATE_API_TOKEN",
                "api_base": f"{replicate.base_url}/v1",
                "poll_interval": 0.05,
            },
        },
    ]
    for name, fake in (sync or {}).items():
        model, env_key, _, path = SYNC_MODELS[name]
        params = {"model": model, "api_key": f"os.environ/{env_key}"}
        entries.append(
            {"model_name": name, "litellm_params": {**params, "api_base": fake.base_url + path}}
        )
    server = {"stream_keepalive_seconds": 30}
    return yaml.safe_dump({"model_list": entries, "server_settings": server})


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BFL_API_KEY", "bfl-test-key")
    monkeypatch.setenv("FAL_KEY", "fal-test-key")
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_test")
    for _, env_key, key, _ in SYNC_MODELS.values():
        monkeypatch.setenv(env_key, key)


async def test_list_models_shows_each_provider_with_sizes_params_and_price_basis(
    serve: ServeFactory, fakes: tuple[BflFake, FalFake, ReplicateFake], env: None
) -> None:
    served = await serve(litellm_config(*fakes))
    answer = await served.stub.ListModels(pb.ListModelsRequest())
    models = {m.name: m for m in answer.models}
    bfl, fal, replicate = models["flux-pro"], models["flux-ultra-fal"], models["flux-schnell"]
    assert (bfl.provider, bfl.provider_model) == ("black_forest_labs", "flux-pro-1.1")
    assert bfl.free_form_sizes and "multiples of 32" in bfl.size_rule
    assert "provider_params.safety_tolerance" in bfl.supported_params
    assert bfl.price_basis == "per_image" and bfl.fan_out
    assert fal.provider == "fal_ai" and "16:9" in fal.aspect_ratios
    assert fal.price_basis == "per_image"
    assert replicate.provider == "replicate" and "1:1" in replicate.aspect_ratios
    assert replicate.price_basis == "per_image"


@pytest.mark.parametrize(
    "model",
    ["flux-pro", "flux-ultra-fal", "flux-schnell", "grok", "flux-together", "nano", "sd-ultra"],
)
async def test_each_provider_serves_an_image_with_its_cost_in_the_trailers(
    serve: ServeFactory,
    fakes: tuple[BflFake, FalFake, ReplicateFake],
    sync_fakes: dict[str, SyncFake],
    env: None,
    model: str,
) -> None:
    served = await serve(litellm_config(*fakes, sync_fakes))
    # Bytes for every model (xAI and Together answer with a URL when not asked for bytes).
    request = pb.GenerateImagesRequest(
        prompt="a fox", model=model, response_format=pb.RESPONSE_FORMAT_B64_JSON
    )
    call = served.stub.GenerateImages(request)
    response = await call
    trailers = dict(await call.trailing_metadata())
    (image,) = response.images
    assert image.WhichOneof("content") == "data"  # raw bytes, fetched by the gateway
    assert image.mime_type.startswith("image/") and len(image.data) > 100
    assert trailers.keys() >= TRAILER_KEYS
    cost = str(trailers["x-imagegen-response-cost"])
    if model == "flux-together":
        assert cost == "unknown"  # billed per megapixel: no price row
    else:
        assert Decimal(cost) > 0


@pytest.mark.parametrize("model", ["flux-pro", "flux-ultra-fal"])
async def test_a_streamed_job_shows_progress_before_its_image(
    serve: ServeFactory,
    fakes: tuple[BflFake, FalFake, ReplicateFake],
    env: None,
    model: str,
) -> None:
    served = await serve(litellm_config(*fakes))
    call = served.stub.StreamGenerateImages(
        pb.StreamGenerateImagesRequest(prompt="a fox", model=model)
    )
    events = [event async for event in call]
    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[0] == "accepted" and kinds[-2:] == ["image", "summary"]
    progress = [e.progress for e in events if e.WhichOneof("event") == "progress"]
    assert len(progress) >= 2 and kinds.index("progress") < kinds.index("image")
    assert all(p.job_status for p in progress)  # job reports, not keep-alives (30 s)
    if model == "flux-ultra-fal":
        positions = [p.queue_position for p in progress if p.HasField("queue_position")]
        assert positions == [1, 0]
        assert progress[-1].job_status == "in_progress"
    else:
        assert all(p.job_status == "pending" and p.HasField("percent") for p in progress)


async def test_cancelling_a_streamed_job_cancels_it_upstream(
    serve: ServeFactory, fakes: tuple[BflFake, FalFake, ReplicateFake], env: None
) -> None:
    _, fal, _ = fakes
    fal.queue_polls = 10_000
    served = await serve(litellm_config(*fakes))
    call = served.stub.StreamGenerateImages(
        pb.StreamGenerateImagesRequest(prompt="a fox", model="flux-ultra-fal")
    )
    seen = 0
    async for event in call:
        if event.WhichOneof("event") == "progress":
            seen += 1
            if seen == 2:
                break
    call.cancel()
    await asyncio.wait_for(fal.cancel_seen.wait(), 5)
    (job_id,) = fal.jobs
    assert fal.cancelled == [job_id]
    assert await call.code() == grpc.StatusCode.CANCELLED


async def test_a_unary_call_past_its_grpc_deadline_cancels_the_job_upstream(
    serve: ServeFactory, fakes: tuple[BflFake, FalFake, ReplicateFake], env: None
) -> None:
    _, fal, _ = fakes
    fal.queue_polls = 10_000
    served = await serve(litellm_config(*fakes))
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a fox", model="flux-ultra-fal"), timeout=0.5
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(fal.cancel_seen.wait(), 5)
    assert len(fal.cancelled) == 1


async def test_a_moderated_job_is_content_policy_violation_over_grpc(
    serve: ServeFactory, fakes: tuple[BflFake, FalFake, ReplicateFake], env: None
) -> None:
    served = await serve(litellm_config(*fakes))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.GenerateImages(
            pb.GenerateImagesRequest(prompt="something moderated", model="flux-pro")
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "CONTENT_POLICY_VIOLATION"
