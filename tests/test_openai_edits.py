"""OpenAI image edits: the gateway's multipart builder, byte for byte, against the OpenAI fake's
own parser over real HTTP, the fake against the official SDK, and the refusals the fake
enforces the way the Images API documents them."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from imagegen.errors import InvalidRequestError, UnsupportedParameterError
from imagegen.images.decode import InputImage
from imagegen.images.limits import OPENAI_GPT_IMAGE
from imagegen.images.validate import validate_edit_inputs
from imagegen.providers.openai_edits import (
    COMPLETED_EVENT,
    EDITS_PATH,
    PARTIAL_IMAGE_EVENT,
    OpenAIEditFields,
    build_edit_body,
    edit_fields,
)
from tests.fakes.images import jpeg_bytes, png_bytes, webp_bytes
from tests.fakes.multipart import MultipartError, parse_multipart
from tests.fakes.openai import OpenAIFake

BOUNDARY = "test-boundary-7f3a"


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def api_mask(width: int, height: int) -> bytes:
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, width // 2, height // 2))
    return encode(mask)


def inputs(*images: bytes, mask: bytes | None = None) -> tuple[list[InputImage], InputImage | None]:
    checked = validate_edit_inputs(list(images), mask, OPENAI_GPT_IMAGE)
    return list(checked.images), checked.mask


async def post_built(
    fake: OpenAIFake, fields: OpenAIEditFields, images: list[InputImage], mask: InputImage | None
) -> httpx.Response:
    built = build_edit_body(fields, images, mask)
    async with httpx.AsyncClient() as client:
        return await client.post(
            f"{fake.base_url}/v1{EDITS_PATH}",
            content=built.body,
            headers={
                "Authorization": f"Bearer {fake.api_key}",
                "Content-Type": built.content_type,
            },
        )


async def post_raw(
    fake: OpenAIFake, files: list[tuple[str, tuple[str, bytes, str]]], **data: str
) -> httpx.Response:
    """A multipart request assembled by httpx, for the refusals the builder never produces."""
    async with httpx.AsyncClient() as client:
        return await client.post(
            f"{fake.base_url}/v1{EDITS_PATH}",
            data={"prompt": "edit it", "model": "gpt-image-1", **data},
            files=files,
            headers={"Authorization": f"Bearer {fake.api_key}"},
        )


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    return error


# ----------------------------------------------------------------------------- the builder


def test_builder_writes_exactly_the_expected_bytes() -> None:
    image = png_bytes(8, 8)
    images, _ = inputs(image)

    built = build_edit_body(
        OpenAIEditFields(prompt="a hat", model="gpt-image-1", n=2), images, boundary=BOUNDARY
    )

    assert built.content_type == f"multipart/form-data; boundary={BOUNDARY}"
    assert built.body == (
        b"--test-boundary-7f3a\r\n"
        b'Content-Disposition: form-data; name="prompt"\r\n\r\na hat\r\n'
        b"--test-boundary-7f3a\r\n"
        b'Content-Disposition: form-data; name="model"\r\n\r\ngpt-image-1\r\n'
        b"--test-boundary-7f3a\r\n"
        b'Content-Disposition: form-data; name="n"\r\n\r\n2\r\n'
        b"--test-boundary-7f3a\r\n"
        b'Content-Disposition: form-data; name="image"; filename="image-0.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + image + b"\r\n"
        b"--test-boundary-7f3a--\r\n"
    )


def test_several_images_and_a_mask_parse_back_to_the_same_bytes_in_order() -> None:
    first, second, third = png_bytes(64, 48, 1), jpeg_bytes(32, 32, 2), webp_bytes(16, 16, 3)
    mask = api_mask(64, 48)
    images, checked_mask = inputs(first, second, third, mask=mask)
    fields = OpenAIEditFields(
        prompt="put them\r\nin one scene", model="gpt-image-1", input_fidelity="high"
    )

    built = build_edit_body(fields, images, checked_mask, boundary=BOUNDARY)
    parts = parse_multipart(built.content_type, built.body)

    assert [(p.name, p.filename, p.content_type) for p in parts if p.is_file] == [
        ("image[]", "image-0.png", "image/png"),
        ("image[]", "image-1.jpeg", "image/jpeg"),
        ("image[]", "image-2.webp", "image/webp"),
        ("mask", "mask.png", "image/png"),
    ]
    assert [p.data for p in parts if p.is_file] == [first, second, third, mask]
    assert {p.name: p.text() for p in parts if not p.is_file} == {
        "prompt": "put them\r\nin one scene",
        "model": "gpt-image-1",
        "input_fidelity": "high",
    }


def test_a_boundary_found_inside_a_file_is_redrawn_and_a_fixed_one_refused() -> None:
    images, _ = inputs(png_bytes(8, 8))
    fields = OpenAIEditFields(prompt=f"say --{BOUNDARY}", model="gpt-image-1")

    with pytest.raises(ValueError, match="boundary"):
        build_edit_body(fields, images, boundary=BOUNDARY)
    drawn = build_edit_body(fields, images)
    parts = parse_multipart(drawn.content_type, drawn.body)
    assert parts[0].text() == f"say --{BOUNDARY}"


def test_partial_images_are_sent_only_with_stream() -> None:
    plain = OpenAIEditFields(prompt="p", model="m", partial_images=2)
    streamed = OpenAIEditFields(prompt="p", model="m", partial_images=2, stream=True)
    assert ("partial_images", "2") not in plain.form_fields()
    assert streamed.form_fields()[-2:] == [("partial_images", "2"), ("stream", "true")]


def test_edit_fields_check_provider_params_by_name_and_value() -> None:
    common: dict[str, Any] = {
        "prompt": "p",
        "model": "gpt-image-1",
        "n": None,
        "size": None,
        "quality": None,
        "user": None,
    }
    fields = edit_fields(
        **common,
        provider_params={
            "input_fidelity": "high",
            "output_format": "webp",
            "output_compression": 80.0,
        },
    )
    assert (fields.input_fidelity, fields.output_format, fields.output_compression) == (
        "high",
        "webp",
        80,
    )

    with pytest.raises(UnsupportedParameterError) as unknown:
        edit_fields(**common, provider_params={"moderation": "low"})
    assert unknown.value.field_violations[0].field == "provider_params.moderation"
    with pytest.raises(InvalidRequestError) as bad:
        edit_fields(**common, provider_params={"background": "clear"})
    assert bad.value.field_violations[0].field == "provider_params.background"
    with pytest.raises(InvalidRequestError):
        edit_fields(**common, provider_params={"output_compression": 101})


# ----------------------------------------------------------------------------- builder ↔ fake


async def test_built_edit_is_accepted_by_the_fake_with_every_file_intact(
    openai_fake: OpenAIFake,
) -> None:
    first, second = png_bytes(64, 48, 4), jpeg_bytes(40, 40, 5)
    mask = api_mask(64, 48)
    images, checked_mask = inputs(first, second, mask=mask)
    fields = OpenAIEditFields(
        prompt="combine these two",
        model="gpt-image-1",
        n=2,
        size="1024x1536",
        quality="low",
        input_fidelity="high",
        output_format="webp",
        output_compression=70,
        user="u-9",
    )

    response = await post_built(openai_fake, fields, images, checked_mask)

    assert response.status_code == 200, response.text
    (received,) = openai_fake.edit_requests
    assert [f.data for f in received.images] == [first, second]
    assert received.mask is not None and received.mask.data == mask
    assert received.fields["user"] == "u-9" and received.input_fidelity == "high"
    body = response.json()
    assert (body["size"], body["quality"], body["output_format"]) == ("1024x1536", "low", "webp")
    assert len(body["data"]) == 2
    with Image.open(io.BytesIO(base64.b64decode(body["data"][0]["b64_json"]))) as out:
        assert (out.format, out.size) == ("WEBP", (1024, 1536))
    usage = body["usage"]
    details = usage["input_tokens_details"]
    # Input text and input image tokens apart (the fake's token rule, doubled for high fidelity).
    assert details == {"text_tokens": 3, "image_tokens": 2 * (255 + 255)}
    assert usage["input_tokens"] == details["text_tokens"] + details["image_tokens"]


async def test_built_streamed_edit_answers_with_edit_events_and_split_usage(
    openai_fake: OpenAIFake,
) -> None:
    images, _ = inputs(png_bytes(600, 400))
    fields = OpenAIEditFields(
        prompt="stream it", model="gpt-image-1", partial_images=2, stream=True
    )

    response = await post_built(openai_fake, fields, images, None)

    assert response.headers["content-type"].startswith("text/event-stream")
    events = [
        json.loads(line.removeprefix("data: "))
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]
    assert [e["type"] for e in events] == [PARTIAL_IMAGE_EVENT] * 2 + [COMPLETED_EVENT]
    assert [e.get("partial_image_index") for e in events[:2]] == [0, 1]
    usage = events[-1]["usage"]
    assert usage["input_tokens_details"] == {"text_tokens": 2, "image_tokens": 85 + 170 * 2}


# ----------------------------------------------------------------------------- the official SDK


async def test_official_sdk_edit_with_two_images_and_a_mask(openai_fake: OpenAIFake) -> None:
    client = openai.AsyncOpenAI(api_key=openai_fake.api_key, base_url=f"{openai_fake.base_url}/v1")
    async with client:
        result = await client.images.edit(
            model="gpt-image-1",
            image=[
                ("a.png", png_bytes(64, 64, 1), "image/png"),
                ("b.jpg", jpeg_bytes(8, 8), "image/jpeg"),
            ],
            mask=("m.png", api_mask(64, 64), "image/png"),
            prompt="a hat on the first, the colours of the second",
        )

    assert result.data is not None and len(result.data) == 1
    assert result.usage is not None and result.usage.input_tokens_details.image_tokens > 0
    (received,) = openai_fake.edit_requests
    # The SDK sends a list of files as repeated image[] parts.
    assert [f.part_name for f in received.images] == ["image[]", "image[]"]
    assert received.mask is not None and received.mask.part_name == "mask"


async def test_official_sdk_streamed_edit_sees_partial_and_completed_events(
    openai_fake: OpenAIFake,
) -> None:
    client = openai.AsyncOpenAI(api_key=openai_fake.api_key, base_url=f"{openai_fake.base_url}/v1")
    async with client:
        stream = await client.images.edit(
            model="gpt-image-1",
            image=("a.png", png_bytes(32, 32), "image/png"),
            prompt="stream",
            stream=True,
            partial_images=1,
        )
        kinds = [event.type async for event in stream]

    assert kinds == ["image_edit.partial_image", "image_edit.completed"]


# ----------------------------------------------------------------------------- refusals


async def test_seventeen_images_are_refused(openai_fake: OpenAIFake) -> None:
    files = [("image[]", (f"{i}.png", png_bytes(8, 8), "image/png")) for i in range(17)]
    response = await post_raw(openai_fake, files)
    assert response.status_code == 400
    assert error_of(response)["code"] == "array_above_max_length"
    assert openai_fake.edit_requests == []


@pytest.mark.parametrize(
    ("declared", "data"),
    [
        ("application/octet-stream", png_bytes(8, 8)),
        ("image/gif", encode(Image.new("RGB", (8, 8)), "GIF")),
    ],
)
async def test_a_file_part_without_a_supported_mimetype_is_refused(
    openai_fake: OpenAIFake, declared: str, data: bytes
) -> None:
    response = await post_raw(openai_fake, [("image", ("x", data, declared))])

    assert response.status_code == 400
    assert error_of(response)["message"] == (
        f"Invalid file 'image': unsupported mimetype ('{declared}'). Supported file formats "
        "are 'image/jpeg', 'image/png', and 'image/webp'."
    )


async def test_a_file_whose_bytes_contradict_its_mimetype_is_refused(
    openai_fake: OpenAIFake,
) -> None:
    response = await post_raw(openai_fake, [("image", ("x.jpg", png_bytes(8, 8), "image/jpeg"))])
    assert response.status_code == 400
    assert error_of(response)["param"] == "image"


@pytest.mark.parametrize(
    ("mask", "fragment"),
    [
        (api_mask(32, 32), "must match image dimensions (64x64)"),
        (encode(Image.new("RGB", (64, 64))), "alpha channel"),
    ],
    ids=["size", "no-alpha"],
)
async def test_bad_masks_are_refused(openai_fake: OpenAIFake, mask: bytes, fragment: str) -> None:
    response = await post_raw(
        openai_fake,
        [
            ("image", ("a.png", png_bytes(64, 64), "image/png")),
            ("mask", ("m.png", mask, "image/png")),
        ],
    )
    error = error_of(response)
    assert (response.status_code, error["param"]) == (400, "mask")
    assert fragment in error["message"]


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"model": "gpt-image-1-mini", "input_fidelity": "high"}, "input_fidelity"),
        ({"model": "gpt-image-2", "background": "transparent"}, "background"),
        ({"moderation": "low"}, "moderation"),
        ({"n": "11"}, "n"),
        ({"partial_images": "4", "stream": "true"}, "partial_images"),
    ],
)
async def test_documented_parameter_refusals(
    openai_fake: OpenAIFake, data: dict[str, str], param: str
) -> None:
    response = await post_raw(
        openai_fake, [("image", ("a.png", png_bytes(8, 8), "image/png"))], **data
    )
    assert response.status_code == 400
    assert error_of(response)["param"] == param


async def test_retired_dalle_models_and_missing_images_are_refused(
    openai_fake: OpenAIFake,
) -> None:
    retired = await post_raw(
        openai_fake, [("image", ("a.png", png_bytes(8, 8), "image/png"))], model="dall-e-2"
    )
    async with httpx.AsyncClient() as client:
        no_image = await client.post(
            f"{openai_fake.base_url}/v1{EDITS_PATH}",
            files={"prompt": (None, b"x")},
            headers={"Authorization": f"Bearer {openai_fake.api_key}"},
        )
    assert (retired.status_code, error_of(retired)["code"]) == (404, "model_not_found")
    assert (no_image.status_code, error_of(no_image)["code"]) == (400, "missing_required_parameter")


async def test_edits_require_the_api_key(openai_fake: OpenAIFake) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{openai_fake.base_url}/v1{EDITS_PATH}", files={"prompt": (None, b"x")}
        )
    assert response.status_code == 401


# ----------------------------------------------------------------------------- the parser


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"{}"),
        ("multipart/form-data", b"--x\r\n\r\n--x--\r\n"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1',
        ),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nContent-Type: text/plain\r\n\r\n1\r\n--x--\r\n",
        ),
    ],
    ids=["not-multipart", "no-boundary", "unterminated", "no-disposition"],
)
def test_the_fake_parser_is_strict(content_type: str, body: bytes) -> None:
    with pytest.raises(MultipartError):
        parse_multipart(content_type, body)
