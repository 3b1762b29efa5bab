"""The OpenAI ``POST /v1/images/edits`` rules, for the OpenAI fake.

Sources: the request fields and their documented limits are those of openai-python's
``image_edit_params.py`` (GPT image models: ``image`` or ``image[]``, up to 16 png/webp/jpg files
under 50 MB each; ``mask`` a PNG under 4 MB with the first image's dimensions, transparent =
edit; ``input_fidelity`` not on gpt-image-1-mini; no ``transparent`` background on gpt-image-2;
``partial_images`` 0-3 with ``stream``; model default gpt-image-1.5), and the stream events of
``image_edit_partial_image_event.py`` / ``image_edit_completed_event.py``. The unsupported
mimetype message is OpenAI's own, as users report it.

Unconfirmed (the fake's choices where nothing public pins the behaviour down):

* wording and codes of the other refusals (too many images, bad file, mask mismatch);
* input image tokens: per image, 85 + 170 per 512-pixel tile (rounded up), twice that with
  ``input_fidelity: high``;
* the JSON body form (``images: [{image_url}]``) is not modelled: a JSON body gets a 400;
* dall-e-2 edits are not modelled: OpenAI retired DALL·E on 2026-05-12, so both DALL·E models
  answer 404 as retired.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from . import openai_spec as spec
from .multipart import MultipartError, Part, parse_multipart

EDITS_PATH = "/v1/images/edits"
DEFAULT_EDIT_MODEL = "gpt-image-1.5"
MAX_IMAGES = 16
MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_MASK_BYTES = 4 * 1024 * 1024
IMAGE_MIMETYPES = ("image/jpeg", "image/png", "image/webp")
_PILLOW_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}

TEXT_FIELDS = frozenset(
    {
        "prompt",
        "model",
        "n",
        "size",
        "quality",
        "background",
        "input_fidelity",
        "output_format",
        "output_compression",
        "partial_images",
        "stream",
        "user",
        "response_format",
    }
)
FILE_FIELDS = frozenset({"image", "image[]", "mask"})
_INT_FIELDS = frozenset({"n", "output_compression", "partial_images"})


@dataclass(frozen=True)
class ReceivedFile:
    """An uploaded file as the fake received it, with what decoding it found."""

    #: The form field it came in: ``image``, ``image[]`` or ``mask``.
    part_name: str
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)
    width: int
    height: int
    has_alpha: bool


@dataclass(frozen=True)
class EditRequest:
    """A validated edit request."""

    image_request: spec.ImageRequest
    fields: dict[str, str]
    images: list[ReceivedFile]
    mask: ReceivedFile | None
    input_fidelity: str

    @property
    def input_image_tokens(self) -> int:
        per_image = [
            85 + 170 * math.ceil(f.width / 512) * math.ceil(f.height / 512) for f in self.images
        ]
        return sum(per_image) * (2 if self.input_fidelity == "high" else 1)


def _typed(name: str, value: str) -> Any:
    """Form fields arrive as text; numbers and booleans are read as the JSON API would."""
    if name in _INT_FIELDS and value.lstrip("-").isdigit():
        return int(value)
    if name == "stream" and value in ("true", "false"):
        return value == "true"
    return value


def _file_error(param: str, message: str, code: str | None = "invalid_value") -> spec.ApiError:
    return spec.ApiError(400, message, param=param, code=code)


def _decode(part: Part, param: str, label: str) -> tuple[int, int, bool, str]:
    try:
        with Image.open(io.BytesIO(part.data)) as image:
            image.load()
            alpha = "A" in image.getbands() or "transparency" in image.info
            return image.width, image.height, alpha, _PILLOW_MIME.get(image.format or "", "")
    except (OSError, SyntaxError, ValueError):
        raise _file_error(
            param, f"Invalid image file or mode for {label}, please check your image file."
        ) from None


def _received(part: Part, param: str, label: str, allowed: tuple[str, ...]) -> ReceivedFile:
    mimetype = (part.content_type or "application/octet-stream").split(";")[0].strip().lower()
    if mimetype not in allowed:
        supported = spec._quote_list(list(allowed))
        raise _file_error(
            param,
            f"Invalid file '{param}': unsupported mimetype ('{mimetype}'). "
            f"Supported file formats are {supported}.",
            code="unsupported_file_mimetype",
        )
    width, height, alpha, actual = _decode(part, param, label)
    if actual != mimetype:
        raise _file_error(
            param, f"Invalid image file or mode for {label}, please check your image file."
        )
    return ReceivedFile(
        part.name, part.filename, part.content_type, part.data, width, height, alpha
    )


def parse_edit(content_type: str, body: bytes) -> tuple[dict[str, Any], list[Part], Part | None]:
    """Form fields (typed), image parts in order, and the mask part, from a raw request."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise spec.ApiError(
            400,
            "This fake models only the multipart form of /v1/images/edits "
            f"(got {content_type.split(';')[0] or 'no content type'}).",
        )
    try:
        parts = parse_multipart(content_type, body)
    except MultipartError as exc:
        raise spec.ApiError(400, f"Could not parse multipart form: {exc}") from None
    fields: dict[str, Any] = {}
    images: list[Part] = []
    mask: Part | None = None
    for part in parts:
        if part.name in ("image", "image[]"):
            images.append(part)
        elif part.name == "mask":
            mask = part
        elif part.name in TEXT_FIELDS:
            fields[part.name] = _typed(part.name, part.text())
        else:
            raise spec._unknown(part.name)
    return fields, images, mask


def validate_edit(
    fields: dict[str, Any],
    image_parts: list[Part],
    mask_part: Part | None,
    *,
    dialect: spec.Dialect = spec.OPENAI,
    deployment_model: spec.ModelSpec | None = None,
) -> EditRequest:
    """Check an edit the way the Images API does; raise ``spec.ApiError`` if it would refuse.

    ``deployment_model``: Azure routes by deployment, so the form's ``model`` plays no part.
    """
    if deployment_model is not None:
        fields.pop("model", None)
        model = deployment_model
    else:
        name = fields.get("model") or DEFAULT_EDIT_MODEL
        if name in ("dall-e-2", "dall-e-3"):
            raise spec.ApiError(
                404,
                f"The model `{name}` has been deprecated, learn more here: "
                "https://platform.openai.com/docs/deprecations",
                code="model_not_found",
            )
        model = spec.resolve_model({"model": name})
    if not image_parts:
        raise spec.ApiError(
            400,
            "Missing required parameter: 'image'.",
            param="image",
            code="missing_required_parameter",
        )
    if len(image_parts) > MAX_IMAGES:
        raise spec.ApiError(
            400,
            f"Invalid 'image': array too long. Expected an array with maximum length "
            f"{MAX_IMAGES}, but got an array with length {len(image_parts)} instead.",
            param="image",
            code="array_above_max_length",
        )
    images = []
    for index, part in enumerate(image_parts):
        if len(part.data) > MAX_IMAGE_BYTES:
            raise _file_error("image", f"Image {index + 1} is larger than 50 MB.")
        images.append(_received(part, "image", f"image {index + 1}", IMAGE_MIMETYPES))

    mask = None
    if mask_part is not None:
        if len(mask_part.data) > MAX_MASK_BYTES:
            raise _file_error("mask", "The mask must be smaller than 4 MB.")
        mask = _received(mask_part, "mask", "the mask", ("image/png",))
        if not mask.has_alpha:
            raise _file_error(
                "mask", "Invalid mask: the mask must have an alpha channel (transparent = edit)."
            )
        first = images[0]
        if (mask.width, mask.height) != (first.width, first.height):
            raise _file_error(
                "mask",
                f"Invalid mask: mask dimensions ({mask.width}x{mask.height}) must match "
                f"image dimensions ({first.width}x{first.height}).",
            )

    fidelity = fields.pop("input_fidelity", None)
    if fidelity is not None:
        if model.name == "gpt-image-1-mini":
            raise spec.ApiError(
                400,
                "Invalid parameter: 'input_fidelity' is not supported for gpt-image-1-mini.",
                param="input_fidelity",
                code="unsupported_parameter",
            )
        if fidelity not in ("high", "low"):
            raise spec._bad_value("input_fidelity", fidelity, ["high", "low"])
    if fields.get("background") == "transparent" and model.name.startswith("gpt-image-2"):
        raise spec.ApiError(
            400,
            f"Transparent background is not supported for {model.name}. Use 'opaque' or 'auto'.",
            param="background",
            code="invalid_value",
        )
    request = spec.parse_request({**fields, "model": model.name}, model, dialect)
    return EditRequest(
        image_request=request,
        fields={k: str(v) for k, v in fields.items()},
        images=images,
        mask=mask,
        input_fidelity=fidelity or "low",
    )
