"""The edit conformance matrix: one request shape — two images and a mask in OpenAI's convention
(transparent = edit) — sent through a real gateway to every provider that edits, by both doors:
the official OpenAI Python SDK's `images.edit` on the HTTP door, and `EditImages` on gRPC.

Each row names what the provider does with it. Where the model serves the request, the image
comes back and the provider's fake received every input image, in order, and the mask in the
provider's own convention, pixel for pixel. Where it cannot (a second image, a mask), the caller
gets a 400 in OpenAI's envelope / INVALID_ARGUMENT with a BadRequest naming the field, and the
fake saw no request at all. Rows for the subset a model does take (one image, no mask) show the
refusal is about the field named, not the provider. Bad inputs (a GIF called a PNG, a mask of
the wrong size, an operation the model does not serve) are refused the same way for every
provider, before any call.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import openai
import pytest
import yaml
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.conftest import Served, ServeFactory
from tests.edit_helpers import violations
from tests.fakes.azure import AzureFake
from tests.fakes.base import FakeProvider
from tests.fakes.bedrock import API_KEY as BEDROCK_KEY
from tests.fakes.bedrock import BedrockFake
from tests.fakes.bfl import BflFake
from tests.fakes.fal import FalFake
from tests.fakes.gemini import GeminiFake
from tests.fakes.images import png_bytes
from tests.fakes.openai import OpenAIFake
from tests.fakes.recraft import RecraftFake
from tests.fakes.stability import StabilityFake
from tests.fakes.vertex import VertexFake
from tests.fakes.xinference import XinferenceFake
from tests.test_provider_bedrock import AWS_ENV
from tests.test_provider_vertex import EMAIL, KEY_ID, PROJECT, key_info, rsa_key

# Sides every editing model takes (Nova's and Imagen capability's minimums included).
SIDE = 320
BOX = (0, 0, 64, 48)  # the area the caller marks for editing
IMAGES = (png_bytes(SIDE, SIDE, 11), png_bytes(SIDE, SIDE, 12))
INSIDE, OUTSIDE = (10, 10), (200, 200)


def encode(image: Image.Image) -> bytes:
    return encode_as(image, "PNG")


def encode_as(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def api_mask() -> bytes:
    """OpenAI's convention: opaque, fully transparent where the model should edit."""
    mask = Image.new("RGBA", (SIDE, SIDE), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), BOX)
    return encode(mask)


MASK = api_mask()


def box_pixels() -> set[tuple[int, int]]:
    return {(x, y) for y in range(BOX[1], BOX[3]) for x in range(BOX[0], BOX[2])}


def pixels_of(mask: Image.Image, value: int) -> set[tuple[int, int]]:
    width, height = mask.size
    return {(x, y) for y in range(height) for x in range(width) if mask.getpixel((x, y)) == value}


# ------------------------------------------------------------------ what each fake received


@dataclass
class Seen:
    """What a fake received for edits: the calls, and the last call's images and mask."""

    calls: int
    images: list[bytes]
    mask: bytes | Image.Image | None  # bytes: passed through as sent; Image: converted ("L")


@dataclass
class Target:
    """A gateway config serving one provider's editing models, and how to read its fake."""

    config: str
    seen: Callable[[], Seen]
    fake: FakeProvider | None = None


def entries(provider: str, models: dict[str, str], **params: Any) -> str:
    return yaml.safe_dump(
        {
            "model_list": [
                {"model_name": name, "litellm_params": {"model": f"{provider}/{model}", **params}}
                for name, model in models.items()
            ]
        }
    )


async def openai_target(stack: AsyncExitStack, _: Path) -> Target:
    fake = await stack.enter_async_context(OpenAIFake())

    def seen() -> Seen:
        calls = fake.edit_requests
        last = calls[-1] if calls else None
        return Seen(
            len(calls),
            [f.data for f in last.images] if last else [],
            last.mask.data if last and last.mask else None,
        )

    config = entries(
        "openai",
        {"gpt-image-1": "gpt-image-1"},
        api_key=fake.api_key,
        api_base=f"{fake.base_url}/v1",
    )
    return Target(config, seen, fake)


async def azure_target(stack: AsyncExitStack, _: Path) -> Target:
    fake = await stack.enter_async_context(AzureFake(api_key="azure-test-key"))

    def seen() -> Seen:
        calls = fake.edit_requests
        last = calls[-1] if calls else None
        return Seen(
            len(calls),
            [f.data for f in last.images] if last else [],
            last.mask.data if last and last.mask else None,
        )

    config = entries(
        "azure",
        {"gpt-image-1": "gpt-image-1"},
        api_base=fake.base_url,
        api_key="azure-test-key",
        api_version="2025-04-01-preview",
    )
    return Target(config, seen, fake)


async def gemini_target(stack: AsyncExitStack, _: Path) -> Target:
    fake = await stack.enter_async_context(GeminiFake(api_key="gemini-test-key"))

    def seen() -> Seen:
        calls = fake.input_images
        return Seen(len(calls), [data for _, data in calls[-1]] if calls else [], None)

    config = entries(
        "gemini",
        {"flash-image": "gemini-2.5-flash-image"},
        api_base=fake.base_url,
        api_key="gemini-test-key",
    )
    return Target(config, seen, fake)


async def vertex_target(stack: AsyncExitStack, tmp: Path) -> Target:
    fake = await stack.enter_async_context(VertexFake(projects=(PROJECT,)))
    fake.add_service_account(EMAIL, KEY_ID, rsa_key("gateway").public_key())
    key_file = tmp / "vertex-key.json"
    key_file.write_text(json.dumps(key_info(fake, rsa_key("gateway"))))

    def seen() -> Seen:
        if fake.edits:  # Imagen capability: one RAW reference and the converted mask
            last = fake.edits[-1]
            return Seen(len(fake.edits), [last.raw], last.mask)
        calls = fake.input_images
        return Seen(len(calls), [data for _, data in calls[-1]] if calls else [], None)

    config = entries(
        "vertex_ai",
        {"vertex-flash-image": "gemini-2.5-flash-image", "capability": "imagen-3.0-capability-001"},
        api_base=fake.base_url,
        vertex_project=PROJECT,
        vertex_credentials=str(key_file),
    )
    return Target(config, seen, fake)


async def bedrock_target(stack: AsyncExitStack, _: Path) -> Target:
    fake = await stack.enter_async_context(BedrockFake())

    def seen() -> Seen:
        if fake.service_edits:  # a Stability image service
            last_service = fake.service_edits[-1]
            return Seen(len(fake.service_edits), [last_service.images["image"]], last_service.mask)
        calls = fake.amazon_edits
        last = calls[-1] if calls else None
        return Seen(len(calls), list(last.images) if last else [], last.mask if last else None)

    config = entries(
        "bedrock",
        {
            "titan": "amazon.titan-image-generator-v2:0",
            "bedrock-inpaint": "us.stability.stable-image-inpaint-v1:0",
        },
        api_base=fake.base_url,
        api_key=BEDROCK_KEY,
    )
    return Target(config, seen, fake)


async def bfl_target(stack: AsyncExitStack, _: Path) -> Target:
    fake = await stack.enter_async_context(BflFake(api_key="bfl-test-key", pending_polls=0))

    def seen() -> Seen:
        calls = fake.input_images
        mask = fake.masks[-1] if fake.masks else None
        return Seen(len(calls), list(calls[-1]) if calls else [], mask)

    config = entries(
        "black_forest_labs",
        {"kontext": "flux-kontext-pro", "fill": "flux-pro-1.0-fill"},
        api_base=fake.base_url,
        api_key="bfl-test-key",
    )
    return Target(config, seen, fake)


async def stability_target(stack: AsyncExitStack, _: Path) -> Target:
    fake = await stack.enter_async_context(StabilityFake(api_key="sk-stability-test"))

    def seen() -> Seen:
        calls = fake.edits
        if not calls:
            return Seen(0, [], None)
        _, image, mask = calls[-1]
        return Seen(len(calls), [image], mask)

    config = entries(
        "stability", {"inpaint": "inpaint"}, api_base=fake.base_url, api_key="sk-stability-test"
    )
    return Target(config, seen, fake)


async def fal_target(stack: AsyncExitStack, _: Path) -> Target:
    fake = await stack.enter_async_context(
        FalFake(api_key="fal-test-key", queue_polls=0, progress_polls=0)
    )

    def seen() -> Seen:
        calls = fake.input_images
        return Seen(len(calls), list(calls[-1]) if calls else [], None)

    config = entries(
        "fal_ai",
        {"fal-kontext": "fal-ai/flux-pro/kontext"},
        api_base=fake.base_url,
        api_key="fal-test-key",
        poll_interval=0.02,
    )
    return Target(config, seen, fake)


async def recraft_target(stack: AsyncExitStack, _: Path) -> Target:
    fake = await stack.enter_async_context(RecraftFake(self_hosted_urls=True))

    def seen() -> Seen:
        if not fake.edits:
            return Seen(0, [], None)
        files = fake.edits[-1].files
        mask = files.get("mask")
        return Seen(len(fake.edits), [files["image"]], None if mask is None else as_grey(mask))

    config = entries(
        "recraft", {"recraftv3": "recraftv3"}, api_base=f"{fake.base_url}/v1", api_key=fake.api_key
    )
    return Target(config, seen, fake)


async def xinference_target(stack: AsyncExitStack, _: Path) -> Target:
    fake = await stack.enter_async_context(XinferenceFake())

    def seen() -> Seen:
        if not fake.edit_calls:
            return Seen(0, [], None)
        _, _, files = fake.edit_calls[-1]
        masks = [as_grey(data) for name, data in files if name == "mask_image"]
        images = [data for name, data in files if name == "image"]
        return Seen(len(fake.edit_calls), images, masks[0] if masks else None)

    config = entries("xinference", {"sd": "sd3-medium"}, api_base=f"{fake.base_url}/v1")
    return Target(config, seen, fake)


def as_grey(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as mask:
        return mask.convert("L")


async def placeholder_target(stack: AsyncExitStack, _: Path) -> Target:
    # No provider: the placeholder's answer itself shows that it honoured the mask.
    return Target(entries("local", {"placeholder": "placeholder"}), lambda: Seen(0, [], None))


TARGETS = {
    "openai": openai_target,
    "azure": azure_target,
    "gemini": gemini_target,
    "vertex": vertex_target,
    "bedrock": bedrock_target,
    "bfl": bfl_target,
    "stability": stability_target,
    "fal": fal_target,
    "recraft": recraft_target,
    "xinference": xinference_target,
    "placeholder": placeholder_target,
}


# ------------------------------------------------------------------ the matrix

PASSED = "passed"  # the caller's mask reached the provider byte for byte
WHITE = "white"  # converted: white (255) = edit, black elsewhere
BLACK = "black"  # converted: black (0) = edit, white elsewhere
HONOURED = "honoured"  # the placeholder changed the box and nothing else


@dataclass(frozen=True)
class Row:
    target: str
    model: str
    images: int  # how many of IMAGES are sent
    mask: bool
    operation: str | None = None  # None: the SDK's default (an instruction edit)
    refused: str | None = None  # the field a refusal names
    mask_as: str | None = None  # how the provider receives the mask, when served
    # Bad-input rows: what is sent instead of IMAGES[:images] and MASK.
    inputs: tuple[bytes, ...] | None = None
    mask_data: bytes | None = None

    @property
    def sent_images(self) -> list[bytes]:
        return list(self.inputs if self.inputs is not None else IMAGES[: self.images])

    @property
    def sent_mask(self) -> bytes | None:
        if not self.mask:
            return None
        return self.mask_data if self.mask_data is not None else MASK

    @property
    def id(self) -> str:
        op = self.operation or "edit"
        return f"{self.model}-{op}-{self.images}img{'-mask' if self.mask else ''}"


ROWS = [
    # GPT image models take up to 16 images and the mask as sent.
    Row("openai", "gpt-image-1", 2, True, mask_as=PASSED),
    Row("azure", "gpt-image-1", 2, True, mask_as=PASSED),
    # Gemini image models: every image inline, no mask.
    Row("gemini", "flash-image", 2, True, refused="mask"),
    Row("gemini", "flash-image", 2, False),
    Row("vertex", "vertex-flash-image", 2, True, refused="mask"),
    Row("vertex", "vertex-flash-image", 2, False),
    # Imagen capability: one RAW reference, the mask as a white = edit MASK reference.
    Row("vertex", "capability", 2, True, "inpaint", refused="images"),
    Row("vertex", "capability", 1, True, "inpaint", mask_as=WHITE),
    # Titan / Nova: inpainting takes one image and a black = edit mask; variation takes 1-5.
    Row("bedrock", "titan", 2, True, "inpaint", refused="images"),
    Row("bedrock", "titan", 1, True, "inpaint", mask_as=BLACK),
    Row("bedrock", "titan", 2, False, "variation"),
    # Stability's image services on Bedrock: one image, white = edit.
    Row("bedrock", "bedrock-inpaint", 2, True, "inpaint", refused="images"),
    Row("bedrock", "bedrock-inpaint", 1, True, "inpaint", mask_as=WHITE),
    # FLUX Kontext: up to four images, no mask; FLUX Fill: one image, white = edit.
    Row("bfl", "kontext", 2, True, refused="mask"),
    Row("bfl", "kontext", 2, False),
    Row("bfl", "fill", 2, True, "inpaint", refused="images"),
    Row("bfl", "fill", 1, True, "inpaint", mask_as=WHITE),
    Row("stability", "inpaint", 2, True, "inpaint", refused="images"),
    Row("stability", "inpaint", 1, True, "inpaint", mask_as=WHITE),
    # fal's Kontext app: one image, no mask.
    Row("fal", "fal-kontext", 2, True, refused="mask"),
    Row("fal", "fal-kontext", 2, False, refused="images"),
    Row("fal", "fal-kontext", 1, False),
    # Recraft: one image, white = edit; Xinference (diffusers): white = edit.
    Row("recraft", "recraftv3", 2, True, "inpaint", refused="images"),
    Row("recraft", "recraftv3", 1, True, "inpaint", mask_as=WHITE),
    Row("xinference", "sd", 2, True, refused="mask"),  # image to image has no mask field
    Row("xinference", "sd", 2, True, "inpaint", refused="images"),
    Row("xinference", "sd", 1, True, "inpaint", mask_as=WHITE),
    Row("xinference", "sd", 2, False),
    Row("placeholder", "placeholder", 2, True, "inpaint", mask_as=HONOURED),
]


@pytest.fixture(autouse=True)
def _isolated_cloud_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    # No developer credentials or config files: each fake is the only thing reachable.
    for name in (*AWS_ENV, "VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT", "VERTEXAI_LOCATION",
                 "VERTEXAI_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    yield


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as opened:
        yield opened


@dataclass
class Answer:
    """One door's answer, normalised: the first image, or the refused field and status."""

    image: bytes | None = None
    field: str | None = None
    status: str | None = None


async def by_sdk(served: Served, row: Row) -> Answer:
    files = [(f"in{i}.png", data, "image/png") for i, data in enumerate(row.sent_images)]
    extra: dict[str, Any] = {"operation": row.operation} if row.operation else {}
    mask = row.sent_mask
    optional: dict[str, Any] = {"mask": ("mask.png", mask, "image/png")} if mask else {}
    async with openai.AsyncOpenAI(
        api_key="unused", base_url=f"{served.http_base_url}/v1", max_retries=0
    ) as client:
        try:
            response = await client.images.edit(
                model=row.model,
                image=files,
                prompt="a red hat",
                extra_body=extra or None,
                **optional,
            )
        except openai.BadRequestError as refused:
            body: Any = refused.body
            assert set(body) >= {"message", "type", "param", "code"}, body
            assert body["type"] == "invalid_request_error"
            return Answer(field=body["param"], status=str(refused.status_code))
    (item,) = response.data or []
    if item.b64_json:
        return Answer(image=base64.b64decode(item.b64_json))
    assert item.url, item
    return Answer(image=await fetched(item.url))


async def by_grpc(served: Served, row: Row) -> Answer:
    request = pb.EditImagesRequest(
        prompt="a red hat",
        model=row.model,
        images=row.sent_images,
        mask=row.sent_mask or b"",
        operation=pb.EditOperation.Value(f"EDIT_OPERATION_{(row.operation or 'edit').upper()}"),
    )
    try:
        response = await served.stub.EditImages(request)
    except grpc.aio.AioRpcError as refused:
        fields = violations(refused)
        assert len(fields) >= 1, "a refusal names the field in a BadRequest"
        return Answer(field=fields[0], status=refused.code().name)
    (image,) = response.images
    return Answer(image=image.data or await fetched(image.url))


async def fetched(url: str) -> bytes:
    """An answer given as a URL (Recraft's default), read from the fake that serves it."""
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        assert answer.status == 200, url
        return await answer.read()


@pytest.mark.parametrize("door", ["http", "grpc"])
@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
async def test_two_images_and_a_mask(
    row: Row, door: str, serve: ServeFactory, stack: AsyncExitStack, tmp_path: Path
) -> None:
    target = await TARGETS[row.target](stack, tmp_path)
    served = await serve(target.config)

    answer = await (by_sdk if door == "http" else by_grpc)(served, row)

    seen = target.seen()
    if row.refused is not None:
        expected_status = "400" if door == "http" else "INVALID_ARGUMENT"
        assert (answer.field, answer.status) == (row.refused, expected_status)
        assert seen.calls == 0, "a refused edit reaches no provider"
        assert target.fake is None or target.fake.requests == []
        return
    assert answer.image, answer
    sent = list(IMAGES[: row.images])
    if row.target != "placeholder":
        assert seen.calls == 1
        assert seen.images == sent, "every input image, in order, byte for byte"
    if not row.mask:
        assert seen.mask is None
    elif row.mask_as == PASSED:
        assert seen.mask == MASK
    elif row.mask_as in (WHITE, BLACK):
        assert isinstance(seen.mask, Image.Image)
        edit_value = 255 if row.mask_as == WHITE else 0
        assert seen.mask.size == (SIDE, SIDE)
        assert pixels_of(seen.mask, edit_value) == box_pixels()
        assert pixels_of(seen.mask, 255 - edit_value) | box_pixels() == {
            (x, y) for y in range(SIDE) for x in range(SIDE)
        }
    else:
        assert row.mask_as == HONOURED
        with (
            Image.open(io.BytesIO(answer.image)) as out,
            Image.open(io.BytesIO(IMAGES[0])) as original,
        ):
            edited, first = out.convert("RGB"), original.convert("RGB")
        assert edited.getpixel(INSIDE) != first.getpixel(INSIDE)
        assert edited.getpixel(OUTSIDE) == first.getpixel(OUTSIDE)


# ------------------------------------------------------------------ bad inputs, every provider

GIF = encode_as(Image.new("RGB", (SIDE, SIDE), (9, 9, 9)), "GIF")
HALF_MASK = encode_as(Image.new("RGBA", (SIDE // 2, SIDE), (0, 0, 0, 0)), "PNG")

# Per target: a model, and the operation of it that takes a mask (None: it takes none).
MASKED = {
    "openai": ("gpt-image-1", "inpaint"),
    "azure": ("gpt-image-1", "inpaint"),
    "gemini": ("flash-image", None),
    "vertex": ("capability", "inpaint"),
    "bedrock": ("titan", "inpaint"),
    "bfl": ("fill", "inpaint"),
    "stability": ("inpaint", "inpaint"),
    "fal": ("fal-kontext", None),
    "recraft": ("recraftv3", "inpaint"),
    "xinference": ("sd", "inpaint"),
    "placeholder": ("placeholder", "inpaint"),
}


def bad_rows(target: str) -> list[Row]:
    """A GIF called a PNG, a mask of the wrong size, an operation the model does not serve."""
    model, masked = MASKED[target]
    rows = [
        Row(target, model, 1, masked is not None, masked, refused="images[0]", inputs=(GIF,)),
        Row(target, model, 1, True, masked, refused="mask", mask_data=HALF_MASK),
    ]
    if target != "placeholder":  # it serves every operation
        rows.append(Row(target, model, 1, False, "vectorize", refused="operation"))
    return rows


@pytest.mark.parametrize("door", ["http", "grpc"])
@pytest.mark.parametrize("target", list(MASKED))
async def test_bad_inputs_are_refused_before_any_provider_call(
    target: str, door: str, serve: ServeFactory, stack: AsyncExitStack, tmp_path: Path
) -> None:
    built = await TARGETS[target](stack, tmp_path)
    served = await serve(built.config)

    for row in bad_rows(target):
        answer = await (by_sdk if door == "http" else by_grpc)(served, row)
        expected_status = "400" if door == "http" else "INVALID_ARGUMENT"
        assert (answer.field, answer.status) == (row.refused, expected_status), row
    assert built.seen().calls == 0
    assert built.fake is None or built.fake.requests == []
