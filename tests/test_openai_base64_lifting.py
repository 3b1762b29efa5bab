"""The OpenAI parser cuts each b64_json string out of the body before parsing the rest; the
images and every other field must come out exactly as a plain JSON parse gives them."""

from __future__ import annotations

import base64
import json

import pytest

from imagegen.errors import ProviderBadResponseError
from imagegen.providers.openai import _image_bytes, _lift_base64

IMAGE = bytes(range(256)) * 64  # base64 of this holds "/" and "+"


def images_of(body: bytes) -> tuple[list[bytes], object]:
    payload, blobs, mark = _lift_base64(body)
    assert isinstance(payload, dict)
    data = [_image_bytes(item["b64_json"], (blobs, mark), "openai") for item in payload["data"]]
    return data, payload


@pytest.mark.parametrize("separator", [":", " : ", ":\n  "])
def test_images_and_other_fields_match_a_plain_parse(separator: str) -> None:
    encoded = base64.b64encode(IMAGE).decode()
    prompt = 'say "b64_json": "AAAA" and \\ \u00e9'
    body = (
        '{"created": 5, "data": [{"b64_json"' + separator + json.dumps(encoded) + ", "
        '"revised_prompt": '
        + json.dumps(prompt)
        + '}, {"b64_json"'
        + separator
        + json.dumps(encoded)
        + "}]}"
    ).encode()
    images, payload = images_of(body)
    assert images == [IMAGE, IMAGE]
    assert isinstance(payload, dict)
    assert payload["created"] == 5 and payload["data"][0]["revised_prompt"] == prompt


def test_an_escaped_slash_is_left_to_the_json_parser() -> None:
    escaped = base64.b64encode(IMAGE).decode().replace("/", "\\/")
    body = ('{"data": [{"b64_json": "' + escaped + '"}]}').encode()
    images, _ = images_of(body)
    assert images == [IMAGE]


def test_a_string_that_looks_like_a_marker_is_not_taken_for_one() -> None:
    forged = "\\u0000" + "0" * 16 + ":0"
    body = ('{"data": [{"b64_json": "' + forged + '"}]}').encode()
    with pytest.raises(ProviderBadResponseError):
        images_of(body)
