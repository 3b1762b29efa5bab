"""What an edit costs, before and after the call, through a real gRPC server and the fakes.

Before: EstimateCost with `operation` (and `input_images`) quotes an edit as EditImages checks
it, by its operation's price row; without `operation` it quotes a generation as before. A key
with a budget reserves an EditImages call's edit quote. After: a GPT image edit prices its input
text and input image tokens each at its own rate, and is unknown when the answer does not split
them; Recraft's `credits` are the cost (tests/test_edits_recraft.py)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.pricing import load_price_table
from tests.conftest import ServeFactory
from tests.edit_helpers import params, violations
from tests.fakes.images import png_bytes
from tests.fakes.openai import OpenAIFake
from tests.fakes.recraft import RecraftFake

RECRAFT_KEY = "recraft-test-key"
MASTER = "sk-master-key-for-tests-0123456789"
TEAM_KEY = "ig-team-key-for-tests-0123456789"
RECRAFT_MODELS = (
    "recraftv3",
    "recraftv3_vector",
    "recraftv4_1",
    "vectorize",
    "crisp-upscale",
    "erase-region",
    "remove-background",
)


@pytest.fixture
async def recraft() -> AsyncIterator[RecraftFake]:
    async with RecraftFake(api_key=RECRAFT_KEY) as fake:
        yield fake


def config(
    recraft: RecraftFake,
    openai: OpenAIFake | None = None,
    *,
    general: dict[str, Any] | None = None,
    keys: list[dict[str, Any]] | None = None,
) -> str:
    models: list[dict[str, Any]] = [
        {
            "model_name": name,
            "litellm_params": {
                "model": f"recraft/{name}",
                "api_base": f"{recraft.base_url}/v1",
                "api_key": RECRAFT_KEY,
            },
        }
        for name in RECRAFT_MODELS
    ]
    if openai is not None:
        models.append(
            {
                "model_name": "gpt-image-1",
                "litellm_params": {
                    "model": "openai/gpt-image-1",
                    "api_base": f"{openai.base_url}/v1",
                    "api_key": openai.api_key,
                },
            }
        )
    document: dict[str, Any] = {"model_list": models}
    if general is not None:
        document["general_settings"] = general
    if keys is not None:
        document["keys"] = keys
    return yaml.safe_dump(document)


@pytest.mark.parametrize(
    ("model", "operation", "n", "cost", "per_image", "name"),
    [
        ("recraftv3_vector", pb.EDIT_OPERATION_INPAINT, 2, "0.160", "0.080", "inpaint"),
        ("vectorize", pb.EDIT_OPERATION_VECTORIZE, 1, "0.010", "0.010", "vectorize"),
        ("crisp-upscale", pb.EDIT_OPERATION_UPSCALE, 1, "0.004", "0.004", "upscale"),
        # V3 raster or vector is the style's (or the answer's): unknown before the call.
        ("recraftv3", pb.EDIT_OPERATION_REPLACE_BACKGROUND, 1, "unknown", "unknown", ""),
        # Unspecified means EDIT, as on EditImages; V4.1 image to image has no public price.
        ("recraftv4_1", pb.EDIT_OPERATION_UNSPECIFIED, 1, "unknown", "unknown", "edit"),
    ],
)
async def test_estimate_cost_quotes_an_edit_by_its_operations_price(
    serve: ServeFactory,
    recraft: RecraftFake,
    model: str,
    operation: pb.EditOperation.ValueType,
    n: int,
    cost: str,
    per_image: str,
    name: str,
) -> None:
    served = await serve(config(recraft))
    quote = await served.stub.EstimateCost(
        pb.EstimateCostRequest(model=model, operation=operation, n=n, input_images=1)
    )
    assert (quote.cost, quote.per_image_cost, quote.n) == (cost, per_image, n)
    if name:
        assert quote.operation == name
    assert recraft.requests == []


async def test_a_generation_and_an_edit_of_one_model_are_quoted_apart(
    serve: ServeFactory, recraft: RecraftFake
) -> None:
    served = await serve(config(recraft))
    generation = await served.stub.EstimateCost(pb.EstimateCostRequest(model="recraftv4_1"))
    edit = await served.stub.EstimateCost(
        pb.EstimateCostRequest(model="recraftv4_1", operation=pb.EDIT_OPERATION_EDIT)
    )
    assert (generation.cost, generation.operation) == ("0.035", "")
    # The generation row is marked generation_only: it does not price image to image.
    assert (edit.cost, edit.basis, edit.operation) == ("unknown", "unknown", "edit")


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"model": "recraftv4_1", "operation": pb.EDIT_OPERATION_INPAINT}, "operation"),
        ({"model": "gpt-image-1", "operation": pb.EDIT_OPERATION_VECTORIZE}, "operation"),
        (
            {"model": "recraftv3", "operation": pb.EDIT_OPERATION_EDIT, "input_images": 2},
            "input_images",
        ),
        (
            {"model": "recraftv3", "operation": pb.EDIT_OPERATION_EDIT, "input_images": 0},
            "input_images",
        ),
        ({"model": "recraftv3", "input_images": 1}, "input_images"),
    ],
)
async def test_estimate_cost_refuses_an_edit_editimages_would_refuse(
    serve: ServeFactory,
    recraft: RecraftFake,
    openai_fake: OpenAIFake,
    request_fields: dict[str, Any],
    field: str,
) -> None:
    served = await serve(config(recraft, openai_fake))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.EstimateCost(pb.EstimateCostRequest(**request_fields))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == [field]


async def test_gpt_image_edit_prices_input_text_and_input_image_tokens_at_their_own_rates(
    serve: ServeFactory, recraft: RecraftFake, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(recraft, openai_fake))
    quote = await served.stub.EstimateCost(
        pb.EstimateCostRequest(
            model="gpt-image-1", operation=pb.EDIT_OPERATION_EDIT, input_images=2
        )
    )
    # Token-priced: known only from the answer's usage.
    assert (quote.cost, quote.basis) == ("unknown", "per_token")

    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="put the two together",
            model="gpt-image-1",
            images=[png_bytes(64, 64, 1), png_bytes(48, 48, 2)],
        )
    )
    usage = response.usage
    text, image = usage.input_tokens_details.text_tokens, usage.input_tokens_details.image_tokens
    assert text > 0 and image > 0
    price = load_price_table().lookup("openai", "gpt-image-1", "edit")
    assert price is not None
    assert price.text_input != price.image_input
    expected = (
        Decimal(text) * Decimal("5.00")
        + Decimal(image) * Decimal("10.00")
        + Decimal(usage.output_tokens) * Decimal("40.00")
    ) / 1_000_000
    assert Decimal(response.cost.response_cost) == expected


async def test_an_edit_whose_usage_does_not_split_its_input_costs_unknown(
    serve: ServeFactory, recraft: RecraftFake, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(recraft, openai_fake))
    image = base64.b64encode(png_bytes(32, 32, 3)).decode()
    openai_fake.fail_next(
        200,
        {
            "created": 1,
            "data": [{"b64_json": image}],
            "usage": {"input_tokens": 400, "output_tokens": 272, "total_tokens": 672},
        },
    )
    response = await served.stub.EditImages(
        pb.EditImagesRequest(prompt="x", model="gpt-image-1", images=[png_bytes(32, 32, 1)])
    )
    # 400 input tokens of text and images in unknown shares, at $5 and $10 a million: never
    # a guess.
    assert response.cost.response_cost == "unknown"


def keyed(recraft: RecraftFake, tmp_path: Path, budget: str) -> str:
    return config(
        recraft,
        general={"master_key": MASTER, "spend_log_path": str(tmp_path / "spend.sqlite3")},
        keys=[{"alias": "team", "key": TEAM_KEY, "max_budget": budget, "budget_period": "daily"}],
    )


async def test_a_budget_reserves_an_edit_by_its_edit_quote(
    serve: ServeFactory, recraft: RecraftFake, tmp_path: Path
) -> None:
    served = await serve(keyed(recraft, tmp_path, "0.005"))
    team = (("authorization", f"Bearer {TEAM_KEY}"),)
    image = png_bytes(256, 256, 1)

    # Vectorize quotes 0.010: more than the key's 0.005 left, refused before Recraft is called.
    with pytest.raises(grpc.aio.AioRpcError) as dear:
        await served.stub.EditImages(
            pb.EditImagesRequest(
                model="vectorize", images=[image], operation=pb.EDIT_OPERATION_VECTORIZE
            ),
            metadata=team,
        )
    assert dear.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert recraft.requests == []

    # Crisp upscale quotes 0.004: it fits, runs, and is charged its credits.
    done = await served.stub.EditImages(
        pb.EditImagesRequest(
            model="crisp-upscale", images=[image], operation=pb.EDIT_OPERATION_UPSCALE
        ),
        metadata=team,
    )
    assert done.cost.response_cost == "0.004"

    # V4.1 image to image has no quote: a key with a budget may not start it (the
    # generation, quoted 0.035, would be refused for its size, not for being unpriced).
    with pytest.raises(grpc.aio.AioRpcError) as unpriced:
        await served.stub.EditImages(
            pb.EditImagesRequest(
                prompt="winter",
                model="recraftv4_1",
                images=[image],
                provider_params=params(strength=0.4),
            ),
            metadata=team,
        )
    assert unpriced.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert len(recraft.requests) == 1


async def test_the_python_client_quotes_an_edit_by_operation_name(
    serve: ServeFactory, recraft: RecraftFake
) -> None:
    from imagegen.client import AsyncImageGenClient, ImageGenClient
    from imagegen.errors import InvalidRequestError

    served = await serve(config(recraft))
    async with AsyncImageGenClient(served.address) as client:
        quote = await client.estimate_cost("erase-region", operation="erase", input_images=1)
        generation = await client.estimate_cost("recraftv4_1")
    assert (quote.cost, quote.operation) == ("0.002", "erase")
    assert (generation.cost, generation.operation) == ("0.035", "")

    def blocking() -> str:
        with ImageGenClient(served.address) as sync:
            return sync.estimate_cost("remove-background", operation="remove_background").cost

    assert await asyncio.to_thread(blocking) == "0.010"
    with pytest.raises(InvalidRequestError):
        async with AsyncImageGenClient(served.address) as client:
            await client.estimate_cost("vectorize", operation="sharpen")


async def test_a_groups_edit_quote_leaves_out_deployments_that_cannot_take_the_edit(
    serve: ServeFactory, recraft: RecraftFake
) -> None:
    def deployment(model: str) -> dict[str, Any]:
        return {
            "model_name": "mixed",
            "litellm_params": {
                "model": f"recraft/{model}",
                "api_base": f"{recraft.base_url}/v1",
                "api_key": RECRAFT_KEY,
            },
        }

    # The router never sends an inpaint to the V2 deployment: its price is not in the quote.
    served = await serve(
        yaml.safe_dump({"model_list": [deployment("recraftv3_vector"), deployment("recraftv2")]})
    )
    quote = await served.stub.EstimateCost(
        pb.EstimateCostRequest(model="mixed", operation=pb.EDIT_OPERATION_INPAINT)
    )
    assert (quote.cost, quote.operation) == ("0.080", "inpaint")
