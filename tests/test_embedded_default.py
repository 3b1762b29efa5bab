"""The embedded default: `imagegen serve` with no config serves the offline placeholder model."""

from __future__ import annotations

import io

import grpc
import pytest
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import embedded_settings
from tests.conftest import TRAILER_KEYS, ServeFactory


async def test_placeholder_returns_png_of_requested_size_with_all_trailers(
    serve: ServeFactory,
) -> None:
    served = await serve(embedded_settings())
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a cute baby sea otter", size="320x200", n=2)
    )
    response = await call
    trailers = dict(await call.trailing_metadata())
    assert trailers.keys() >= TRAILER_KEYS
    assert trailers["x-imagegen-response-cost"] == "0"
    assert trailers["x-imagegen-provider"] == "local"
    assert trailers["x-imagegen-model-id"] == "local/placeholder"
    assert trailers["x-imagegen-attempts"] == "1"
    assert float(trailers["x-imagegen-overhead-ms"]) >= 0
    assert len(response.images) == 2
    for index, image in enumerate(response.images):
        assert image.index == index
        assert image.mime_type == "image/png"
        decoded = Image.open(io.BytesIO(image.data))
        assert decoded.format == "PNG"
        assert decoded.size == (320, 200)
    assert response.images[0].data != response.images[1].data
    assert response.cost.response_cost == "0"
    assert response.cost.provider == "local"


async def test_placeholder_is_deterministic_for_prompt_and_seed(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())

    async def render(prompt: str, seed: int) -> bytes:
        request = pb.GenerateImagesRequest(prompt=prompt, size="64x64")
        request.provider_params.update({"seed": seed})
        response = await served.stub.GenerateImages(request)
        return response.images[0].data

    first = await render("otter", 1)
    assert first == await render("otter", 1)
    assert first != await render("otter", 2)
    assert first != await render("beaver", 1)


async def test_list_models_describes_placeholder(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    response = await served.stub.ListModels(pb.ListModelsRequest())
    (model,) = response.models
    assert model.name == "placeholder"
    assert model.provider == "local"
    assert model.price_basis == "free"
    assert model.free_form_sizes
    assert "size" in model.supported_params


async def test_openai_models_served_when_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    names = [d.model_name for d in embedded_settings().deployments]
    assert names[0] == "placeholder"
    assert {"gpt-image-1", "dall-e-3", "gpt-image-2"} <= set(names)
    monkeypatch.delenv("OPENAI_API_KEY")
    assert [d.model_name for d in embedded_settings().deployments] == ["placeholder"]


async def test_unsupported_parameter_on_placeholder_is_invalid_argument(
    serve: ServeFactory,
) -> None:
    served = await serve(embedded_settings())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.GenerateImages(pb.GenerateImagesRequest(prompt="otter", quality="hd"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "quality" in (caught.value.details() or "")
