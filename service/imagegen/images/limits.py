"""What each editing model accepts as input, as data: counts, bytes, pixels, sides, formats.

Every figure comes from the provider's own documentation (cited at the row). Where a provider
documents no bound, the field is None and the gateway leaves the decision to the provider; the
gateway-wide ceilings below still apply to every model, because they protect the gateway itself
(memory and CPU spent decoding), not the provider.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagegen.images.formats import ImageFormat

MB = 1024 * 1024

#: No input is decoded past this many pixels, whatever a model accepts: a small file that
#: inflates to gigabytes of pixels (a decompression bomb) is refused from its header alone.
GATEWAY_MAX_PIXELS = 64_000_000
#: Nor past this many pixels on a side.
GATEWAY_MAX_SIDE = 16_384

_ALL_FORMATS = frozenset(ImageFormat)


@dataclass(frozen=True, slots=True)
class InputLimits:
    """Input bounds of one model. None means the provider documents no bound."""

    #: The most input images one request may carry.
    max_images: int
    #: The largest encoded size of one input image, in bytes.
    max_image_bytes: int | None
    #: The encoded formats the model reads.
    formats: frozenset[ImageFormat] = _ALL_FORMATS
    #: The most pixels (width x height) of one input image.
    max_pixels: int | None = None
    #: The shortest and longest side allowed, in pixels.
    min_side: int | None = None
    max_side: int | None = None
    #: The largest encoded size of the mask, in bytes.
    max_mask_bytes: int | None = None
    #: The provider refuses inputs with transparent or semi-transparent pixels.
    opaque_only: bool = False


# https://github.com/openai/openai-python/blob/main/src/openai/types/image_edit_params.py
# GPT image models: up to 16 images, each png/webp/jpg under 50 MB; the mask a PNG under 4 MB.
OPENAI_GPT_IMAGE = InputLimits(max_images=16, max_image_bytes=50 * MB, max_mask_bytes=4 * MB)

# https://www.recraft.ai/docs/api-reference/tools/inpainting
# Under 10 MB, up to 16 MP, sides between 256 and 4096 px (SVG input is not accepted here).
RECRAFT = InputLimits(
    max_images=1,
    max_image_bytes=10 * MB,
    max_pixels=16 * 1024 * 1024,
    min_side=256,
    max_side=4096,
    max_mask_bytes=10 * MB,
)

# https://docs.aws.amazon.com/nova/latest/userguide/image-gen-access.html
# PNG or JPEG, 8 bits a channel; a PNG may carry alpha but no (semi-)transparent pixel.
# Inpainting and outpainting carry one `image` (variations take several: not modelled yet).
BEDROCK_NOVA_CANVAS = InputLimits(
    max_images=1,
    max_image_bytes=None,
    formats=frozenset({ImageFormat.PNG, ImageFormat.JPEG}),
    opaque_only=True,
)

# The offline placeholder: bounds of the gateway's own choosing, small enough to keep the
# in-process rendering quick.
PLACEHOLDER = InputLimits(
    max_images=16,
    max_image_bytes=20 * MB,
    max_pixels=16 * 1024 * 1024,
    min_side=1,
    max_side=4096,
    max_mask_bytes=20 * MB,
)
