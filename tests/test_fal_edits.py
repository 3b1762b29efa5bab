"""fal Kontext edits (`fal-ai/flux-pro/kontext`, `.../kontext/max`) through a real gRPC server
and the fal fake, which decodes the `image_url` data URI: the exact input bytes arrive, a mask,
a second image and other operations are refused before anything is sent, and a job is still
cancelled upstream when the caller cancels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.conftest import ServeFactory
from tests.edit_helpers import violations
from tests.fakes.fal import FalFake
from tests.fakes.images import jpeg_bytes, png_bytes

KEY = "fal-test-key"


@pytest.fixture
async def fal_fake() -> AsyncIterator[FalFake]:
    async with FalFake(api_key=KEY, queue_polls=1, progress_polls=1) as fake:
        yield fake


def config(fake: FalFake) -> str:
    models = {
        "kontext": "fal-ai/flux-pro/kontext",
        "kontext-max": "fal-ai/flux-pro/kontext/max",
        "dev": "fal-ai/flux/dev",
    }
    return yaml.safe_dump(
        {
            "model_list": [
                {
                    "model_name": name,
                    "litellm_params": {
                        "model": f"fal_ai/{app}",
                        "api_base": fake.base_url,
                        "api_key": KEY,
                        "poll_interval": 0.02,
                    },
                }
                for name, app in models.items()
            ]
        }
    )


@pytest.mark.parametrize(
    ("model", "app", "image"),
    [
        ("kontext", "fal-ai/flux-pro/kontext", png_bytes(64, 48, 1)),
        ("kontext-max", "fal-ai/flux-pro/kontext/max", jpeg_bytes(32, 32, 2)),
    ],
)
async def test_kontext_gets_the_exact_input_bytes_as_an_image_url_data_uri(
    serve: ServeFactory, fal_fake: FalFake, model: str, app: str, image: bytes
) -> None:
    served = await serve(config(fal_fake))

    response = await served.stub.EditImages(
        pb.EditImagesRequest(prompt="make it dusk", model=model, images=[image], n=2)
    )

    assert fal_fake.input_images == [[image]]
    (submit,) = [r for r in fal_fake.requests if r.method == "POST"]
    assert submit.path == f"/{app}"
    assert submit.headers["authorization"] == f"Key {KEY}"
    assert submit.json["prompt"] == "make it dusk"
    assert submit.json["num_images"] == 2
    assert submit.json["image_url"].startswith(
        "data:image/png;base64," if image[:4] == b"\x89PNG" else "data:image/jpeg;base64,"
    )
    assert "image_size" not in submit.json and "mask_url" not in submit.json
    assert len(response.images) == 2 and all(i.data[:4] == b"\x89PNG" for i in response.images)
    # No fal price for Kontext is confirmed: unknown, never a silent 0.
    assert response.cost.response_cost == "unknown"


async def test_kontext_refuses_a_mask_a_second_image_other_operations_and_non_edit_apps(
    serve: ServeFactory, fal_fake: FalFake
) -> None:
    served = await serve(config(fal_fake))
    image = png_bytes(16, 16)
    requests = {
        "mask": pb.EditImagesRequest(prompt="x", model="kontext", images=[image], mask=image),
        # The shared input-limit check names `images` ("takes at most 1 input image, got 2").
        "images": pb.EditImagesRequest(prompt="x", model="kontext", images=[image, image]),
        "operation": pb.EditImagesRequest(
            prompt="x", model="kontext", images=[image], operation=pb.EDIT_OPERATION_INPAINT
        ),
        "model": pb.EditImagesRequest(prompt="x", model="dev", images=[image]),
    }

    for field, request in requests.items():
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await served.stub.EditImages(request)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in violations(refused.value), (field, violations(refused.value))
    assert fal_fake.requests == []


async def test_list_models_reports_kontext_edits(serve: ServeFactory, fal_fake: FalFake) -> None:
    served = await serve(config(fal_fake))
    models = {m.name: m for m in (await served.stub.ListModels(pb.ListModelsRequest())).models}
    assert list(models["kontext"].edit_operations) == [pb.EDIT_OPERATION_EDIT]
    assert models["kontext"].max_input_images == 1
    assert list(models["kontext-max"].edit_operations) == [pb.EDIT_OPERATION_EDIT]
    assert list(models["dev"].edit_operations) == []


async def test_cancelling_a_kontext_edit_cancels_the_job_upstream(
    serve: ServeFactory, fal_fake: FalFake
) -> None:
    fal_fake.queue_polls = 10_000
    served = await serve(config(fal_fake))
    call = served.stub.EditImages(
        pb.EditImagesRequest(prompt="x", model="kontext", images=[png_bytes(16, 16)])
    )
    while len(fal_fake.requests) < 3:  # submitted and polled twice
        fal_fake.received.clear()
        await asyncio.wait_for(fal_fake.received.wait(), 5)
    call.cancel()
    await asyncio.wait_for(fal_fake.cancel_seen.wait(), 5)
    (job_id,) = fal_fake.jobs
    assert fal_fake.cancelled == [job_id]
    cancel = fal_fake.last_request
    assert cancel.method == "PUT" and cancel.path.endswith(f"/requests/{job_id}/cancel")
    assert cancel.headers["authorization"] == f"Key {KEY}"
