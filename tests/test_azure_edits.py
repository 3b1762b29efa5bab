"""Azure OpenAI edits through a real gRPC server and the Azure fake: the deployment route
(api-version in the query) and the v1 route, every image and the mask byte for byte, streamed
edit events, and Azure's narrower output formats."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import yaml
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.conftest import ServeFactory
from tests.fakes.azure import AzureFake
from tests.fakes.images import jpeg_bytes, png_bytes

KEY = "azure-test-key"
DATED = "2025-04-01-preview"
W, H = 48, 32


@pytest.fixture
async def azure_fake() -> AsyncIterator[AzureFake]:
    async with AzureFake(api_key=KEY) as fake:
        yield fake


def config(fake: AzureFake, api_version: str) -> str:
    params: dict[str, Any] = {
        "model": "azure/gpt-image-1",
        "api_base": fake.base_url,
        "api_key": KEY,
        "api_version": api_version,
    }
    return yaml.safe_dump({"model_list": [{"model_name": "gpt-image-1", "litellm_params": params}]})


def api_mask() -> bytes:
    mask = Image.new("RGBA", (W, H), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 10, 10))
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("api_version", [DATED, "v1"], ids=["deployment-route", "v1-route"])
async def test_edit_reaches_the_deployment_with_every_file(
    serve: ServeFactory, azure_fake: AzureFake, api_version: str
) -> None:
    served = await serve(config(azure_fake, api_version))
    first, second, mask = png_bytes(W, H, 1), jpeg_bytes(16, 16, 2), api_mask()

    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="combine", model="gpt-image-1", images=[first, second], mask=mask
        )
    )

    (sent,) = azure_fake.requests
    if api_version == DATED:
        assert sent.path == "/openai/deployments/gpt-image-1/images/edits"
        assert sent.query == {"api-version": DATED}
    else:
        assert sent.path == "/openai/v1/images/edits"
    assert sent.headers["api-key"] == KEY
    (received,) = azure_fake.edit_requests
    assert [f.data for f in received.images] == [first, second]
    assert received.mask is not None and received.mask.data == mask
    assert response.usage.input_tokens_details.image_tokens > 0


async def test_streamed_edit_relays_previews(serve: ServeFactory, azure_fake: AzureFake) -> None:
    served = await serve(config(azure_fake, DATED))
    kinds = [
        event.WhichOneof("event")
        async for event in served.stub.StreamEditImages(
            pb.StreamEditImagesRequest(
                prompt="stream", model="gpt-image-1", images=[png_bytes(W, H)], partial_images=1
            )
        )
    ]
    assert kinds[0] == "accepted" and kinds[-1] == "summary"
    assert kinds.count("partial_image") == 1


async def test_webp_output_is_refused_before_the_call(
    serve: ServeFactory, azure_fake: AzureFake
) -> None:
    served = await serve(config(azure_fake, DATED))
    request = pb.EditImagesRequest(prompt="edit", model="gpt-image-1", images=[png_bytes(W, H)])
    request.provider_params.update({"output_format": "webp"})

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.EditImages(request)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert azure_fake.requests == []
