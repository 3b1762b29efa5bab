"""POST /v1/images/edits with a JSON body (OpenAI's `images: [{image_url}]` form): data URLs,
http(s) URLs fetched only from allowlisted hosts (checked before any connection, redirects
included), byte bounds while downloading, and refusals in OpenAI's error envelope."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import yaml
from PIL import Image

from imagegen.config import parse_settings
from imagegen.errors import ConfigError
from tests.conftest import Served, ServeFactory
from tests.fakes.image_host import ImageHost
from tests.fakes.images import jpeg_bytes, png_bytes

W, H = 48, 32


def encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def api_mask() -> bytes:
    mask = Image.new("RGBA", (W, H), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 12, 12))
    return encode(mask)


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def decode(b64: str) -> Image.Image:
    with Image.open(io.BytesIO(base64.b64decode(b64))) as image:
        return image.convert("RGB")


def config(allowlist: list[str] | None = None, max_message_mb: int = 64) -> str:
    server: dict[str, Any] = {"max_message_mb": max_message_mb}
    if allowlist is not None:
        server["image_url_allowlist"] = allowlist
    return yaml.safe_dump(
        {
            "model_list": [
                {"model_name": "placeholder", "litellm_params": {"model": "local/placeholder"}}
            ],
            "server_settings": server,
        }
    )


@pytest.fixture
async def hosts() -> AsyncIterator[tuple[ImageHost, ImageHost]]:
    """Two image hosts: the first is the one tests allowlist, the second never is."""
    async with ImageHost() as allowed, ImageHost() as other:
        yield allowed, other


async def post_json(served: Served, body: dict[str, Any]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{served.http_base_url}/v1/images/edits", json=body) as response,
    ):
        return response.status, await response.json()


async def test_two_data_url_images_and_a_data_url_mask_are_edited(serve: ServeFactory) -> None:
    served = await serve(config())
    photo = png_bytes(W, H, 5)

    status, body = await post_json(
        served,
        {
            "model": "placeholder",
            "prompt": "a hat",
            "operation": "inpaint",
            "images": [
                {"image_url": data_url(photo)},
                {"image_url": data_url(jpeg_bytes(8, 8), "image/jpeg")},
            ],
            "mask": {"image_url": data_url(api_mask())},
        },
    )

    assert status == 200, body
    (item,) = body["data"]
    edited, original = decode(item["b64_json"]), decode(base64.b64encode(photo).decode())
    # Inside the mask's transparent box the placeholder changed the pixels; outside, not.
    assert edited.getpixel((3, 3)) != original.getpixel((3, 3))
    assert edited.getpixel((30, 20)) == original.getpixel((30, 20))


async def test_allowlisted_url_is_fetched_and_edited(
    serve: ServeFactory, hosts: tuple[ImageHost, ImageHost]
) -> None:
    allowed, _ = hosts
    photo = png_bytes(W, H, 9)
    allowed.images["photo.png"] = photo
    served = await serve(config([f"127.0.0.1:{allowed.port}"]))

    status, body = await post_json(
        served,
        {
            "model": "placeholder",
            "operation": "upscale",
            "images": [{"image_url": f"{allowed.base_url}/image/photo.png"}],
        },
    )

    assert status == 200, body
    assert allowed.paths == ["/image/photo.png"]
    assert decode(body["data"][0]["b64_json"]).size == (2 * W, 2 * H)


async def test_a_host_not_allowlisted_is_refused_before_any_connection(
    serve: ServeFactory, hosts: tuple[ImageHost, ImageHost]
) -> None:
    allowed, other = hosts
    allowed.images["photo.png"] = other.images["photo.png"] = png_bytes(W, H)
    served = await serve(config([f"127.0.0.1:{allowed.port}"]))

    status, body = await post_json(
        served,
        {
            "model": "placeholder",
            "prompt": "combine",
            "images": [
                # The allowed one first: it is not fetched either, since every reference is
                # checked before the first fetch.
                {"image_url": f"{allowed.base_url}/image/photo.png"},
                {"image_url": f"{other.base_url}/image/photo.png"},
            ],
        },
    )

    assert status == 400
    error = body["error"]
    assert error["param"] == "images[1].image_url"
    assert error["type"] == "invalid_request_error"
    assert "is not allowed by server_settings.image_url_allowlist" in error["message"]
    assert other.connections == 0
    assert allowed.connections == 0


async def test_hosts_are_compared_by_name_without_dns(
    serve: ServeFactory, hosts: tuple[ImageHost, ImageHost]
) -> None:
    allowed, _ = hosts
    allowed.images["photo.png"] = png_bytes(W, H)
    # "localhost" is allowed; the same server named by its address is not.
    served = await serve(config(["localhost"]))

    status, body = await post_json(
        served,
        {
            "model": "placeholder",
            "operation": "upscale",
            "images": [{"image_url": f"{allowed.base_url}/image/photo.png"}],
        },
    )

    assert status == 400 and body["error"]["param"] == "images[0].image_url"
    assert allowed.connections == 0


async def test_a_redirect_to_a_host_not_allowlisted_is_not_followed(
    serve: ServeFactory, hosts: tuple[ImageHost, ImageHost]
) -> None:
    allowed, other = hosts
    other.images["photo.png"] = png_bytes(W, H)
    served = await serve(config([f"127.0.0.1:{allowed.port}"]))
    target = f"{other.base_url}/image/photo.png"

    status, body = await post_json(
        served,
        {
            "model": "placeholder",
            "operation": "upscale",
            "images": [{"image_url": f"{allowed.base_url}/redirect?to={target}"}],
        },
    )

    assert status == 400
    assert body["error"]["param"] == "images[0].image_url"
    assert body["error"]["message"].startswith("redirected: host '127.0.0.1' is not allowed")
    assert allowed.connections == 1
    assert other.connections == 0


async def test_a_redirect_within_the_allowlist_is_followed(
    serve: ServeFactory, hosts: tuple[ImageHost, ImageHost]
) -> None:
    allowed, other = hosts
    other.images["photo.png"] = png_bytes(W, H, 3)
    served = await serve(config([f"127.0.0.1:{allowed.port}", f"127.0.0.1:{other.port}"]))
    target = f"{other.base_url}/image/photo.png"

    status, body = await post_json(
        served,
        {
            "model": "placeholder",
            "operation": "upscale",
            "images": [{"image_url": f"{allowed.base_url}/redirect?to={target}"}],
        },
    )

    assert status == 200, body
    assert other.paths == ["/image/photo.png"]


@pytest.mark.parametrize("kind", ["image", "chunked"])
async def test_a_download_beyond_the_message_limit_is_refused(
    serve: ServeFactory, hosts: tuple[ImageHost, ImageHost], kind: str
) -> None:
    allowed, _ = hosts
    # Larger than the 4 MiB limit whether or not the host states a Content-Length.
    allowed.images["huge.png"] = b"\x89PNG\r\n\x1a\n" + bytes(5 * 1024 * 1024)
    served = await serve(config([f"127.0.0.1:{allowed.port}"], max_message_mb=4))

    status, body = await post_json(
        served,
        {
            "model": "placeholder",
            "operation": "upscale",
            "images": [{"image_url": f"{allowed.base_url}/{kind}/huge.png"}],
        },
    )

    assert status == 400
    assert body["error"]["param"] == "images[0].image_url"
    assert "larger than the" in body["error"]["message"]


async def test_without_an_allowlist_urls_are_refused_and_say_how_to_send_images(
    serve: ServeFactory, hosts: tuple[ImageHost, ImageHost]
) -> None:
    allowed, _ = hosts
    served = await serve(config())

    status, body = await post_json(
        served,
        {
            "model": "placeholder",
            "prompt": "p",
            "images": [{"image_url": data_url(png_bytes(W, H))}],
            "mask": {"image_url": f"{allowed.base_url}/image/mask.png"},
        },
    )

    assert status == 400
    assert body["error"]["param"] == "mask.image_url"
    assert "data: URL" in body["error"]["message"]
    assert allowed.connections == 0


@pytest.mark.parametrize(
    ("images", "param"),
    [
        ([{"file_id": "file-abc"}], "images[0].file_id"),
        ([], "images"),
        ("data:image/png;base64,AAAA", "images"),
        ([{"image_url": "data:image/png,notbase64"}], "images[0].image_url"),
        ([{"image_url": "data:image/png;base64,@@@"}], "images[0].image_url"),
        ([{"image_url": "file:///etc/passwd"}], "images[0].image_url"),
        ([{"image_url": "x", "detail": "high"}], "images[0].detail"),
    ],
)
async def test_bad_references_are_400_naming_the_field(
    serve: ServeFactory, images: Any, param: str
) -> None:
    served = await serve(config())
    status, body = await post_json(
        served, {"model": "placeholder", "prompt": "p", "images": images}
    )
    assert status == 400
    assert body["error"]["param"] == param


async def test_generation_fields_are_typed_as_strictly_as_a_generations_body(
    serve: ServeFactory,
) -> None:
    served = await serve(config())
    status, body = await post_json(
        served,
        {
            "model": "placeholder",
            "prompt": "p",
            "n": "2",
            "images": [{"image_url": data_url(png_bytes(W, H))}],
        },
    )
    assert status == 400
    assert body["error"]["param"] == "n"


async def test_a_streamed_json_edit_uses_openai_edit_event_names(serve: ServeFactory) -> None:
    served = await serve(config())
    body = {
        "model": "placeholder",
        "prompt": "a hat",
        "stream": True,
        "images": [{"image_url": data_url(png_bytes(W, H))}],
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{served.http_base_url}/v1/images/edits", json=body) as response,
    ):
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        text = (await response.read()).decode()
    events = [line[len("event: ") :] for line in text.splitlines() if line.startswith("event: ")]
    assert events == ["image_edit.completed"]
    data = json.loads(text.split("data: ", 1)[1].split("\n", 1)[0])
    assert data["type"] == "image_edit.completed" and data["b64_json"]


@pytest.mark.parametrize(
    "entry", ["*", "*.com", "https://images.example.com", "images.example.com/path", "a b"]
)
def test_a_bad_allowlist_entry_is_refused_at_start(entry: str) -> None:
    with pytest.raises(ConfigError, match=r"server_settings\.image_url_allowlist"):
        parse_settings(config([entry]), source="test.yaml")
