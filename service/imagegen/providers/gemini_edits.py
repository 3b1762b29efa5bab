"""Edits on Gemini image models (`:generateContent`): every input image goes as an inline data
part beside the text part, in the caller's order; editing is by instruction only (no mask).

Wire format: a `contents[0].parts` list of `{"text": ...}` and
`{"inlineData": {"mimeType": ..., "data": <base64>}}` parts
(https://ai.google.dev/api/caching#Part, https://ai.google.dev/gemini-api/docs/image-generation).
Base64 is the provider's wire format; on the gateway's own legs the images stay raw bytes.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

from pydantic import JsonValue

from imagegen.images.formats import ImageFormat
from imagegen.images.limits import InputLimits
from imagegen.images.operations import EditOperation
from imagegen.images.payload import EditPayload
from imagegen.providers.base import ModelSpec
from imagegen.providers.edit_support import EditCapability

# Up to 14 reference images is what third-party guides report for Gemini 3 image models;
# Google's own page was not at hand to confirm it, so treat the figure as provisional.
GEMINI_INPUT_LIMITS = InputLimits(
    max_images=14,
    max_image_bytes=None,
    formats=frozenset({ImageFormat.PNG, ImageFormat.JPEG, ImageFormat.WEBP}),
)
GEMINI_EDITS = EditCapability(
    operations=frozenset({EditOperation.EDIT}), limits=GEMINI_INPUT_LIMITS, takes_mask=False
)


def with_edits(spec: ModelSpec, generate_content: bool) -> ModelSpec:
    """Gemini image models (the `:generateContent` route) edit; Imagen models here do not."""
    return replace(spec, edit=GEMINI_EDITS) if generate_content else spec


def with_input_images(body: dict[str, JsonValue], payload: EditPayload) -> dict[str, JsonValue]:
    """The generateContent body with the input images after the prompt, in order."""
    contents: Any = body["contents"]
    parts = list(contents[0]["parts"])
    for image in payload.inputs.images:
        parts.append(
            {
                "inlineData": {
                    "mimeType": image.format.mime_type,
                    "data": base64.b64encode(image.data).decode("ascii"),
                }
            }
        )
    return {**body, "contents": [{**contents[0], "parts": parts}, *contents[1:]]}
