"""What the offline placeholder model does to input images, one pure function per operation.

Each result is deterministic for (inputs, prompt, seed, index) and visibly different from its
input, and a mask is honoured pixel for pixel: outside the edit area the output equals the
first input. That lets `make run` demonstrate every operation with no keys, and lets tests
check an edit by its pixels. The mask is in the API convention (transparent = edit).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image, ImageOps

from imagegen.images.masks import edit_area
from imagegen.images.operations import EditOperation, Outpaint
from imagegen.images.payload import EditPayload
from imagegen.providers.base import ProviderCall
from imagegen.types import GeneratedImage, ProviderResult

SVG_MIME = "image/svg+xml"
PNG_MIME = "image/png"
#: How strongly an instruction edit tints the edited pixels, out of 255.
TINT_STRENGTH = 140
#: Pixels within this distance (per channel) of the background colour count as background.
BACKGROUND_TOLERANCE = 24
#: The vectorizer's grid: the SVG has this many cells on each side at most.
VECTOR_GRID = 4


@dataclass(frozen=True, slots=True)
class EditRequest:
    """Everything a placeholder edit reads."""

    operation: EditOperation
    images: Sequence[bytes]
    mask: bytes | None
    prompt: str
    seed: int = 0
    outpaint: Outpaint | None = None


@dataclass(frozen=True, slots=True)
class EditedImage:
    data: bytes
    mime_type: str
    width: int
    height: int


def prompt_colour(prompt: str, seed: int, index: int) -> tuple[int, int, int]:
    """The colour an edit paints with: chosen by the prompt, the seed and the image index."""
    digest = hashlib.sha256(f"{seed}\x00{index}\x00{prompt}".encode()).digest()
    return digest[0], digest[1], digest[2]


def render_edit(request: EditRequest, index: int) -> EditedImage:
    """Output image `index` of an edit."""
    base = _open(request.images[0])
    area = edit_area(request.mask) if request.mask else None
    colour = prompt_colour(request.prompt, request.seed, index)
    if request.operation is EditOperation.VECTORIZE:
        return _vectorize(base)
    result = _OPERATIONS[request.operation](request, base, area, colour, index)
    return _png(result)


Operation = Callable[
    [EditRequest, Image.Image, Image.Image | None, tuple[int, int, int], int], Image.Image
]


def _edit(
    request: EditRequest,
    base: Image.Image,
    area: Image.Image | None,
    colour: tuple[int, int, int],
    index: int,
) -> Image.Image:
    tinted = Image.blend(base, Image.new("RGBA", base.size, (*colour, 255)), TINT_STRENGTH / 255)
    result = _within(area, tinted, base)
    # Every reference image shows up, as a thumbnail along the bottom edge: proof that all
    # inputs reached the model, in order.
    references = request.images[1:]
    if references:
        slot = max(1, min(base.width // len(references), base.height // 4))
        for position, data in enumerate(references):
            thumbnail = ImageOps.fit(_open(data), (slot, slot))
            result.paste(thumbnail, (position * slot, base.height - slot))
    return result


def _inpaint(
    request: EditRequest,
    base: Image.Image,
    area: Image.Image | None,
    colour: tuple[int, int, int],
    index: int,
) -> Image.Image:
    return _within(area, Image.new("RGBA", base.size, (*colour, 255)), base)


def _outpaint(
    request: EditRequest,
    base: Image.Image,
    area: Image.Image | None,
    colour: tuple[int, int, int],
    index: int,
) -> Image.Image:
    sides = request.outpaint or Outpaint()
    canvas = Image.new(
        "RGBA",
        (base.width + sides.left + sides.right, base.height + sides.top + sides.bottom),
        (*colour, 255),
    )
    canvas.paste(base, (sides.left, sides.top))
    return canvas


def _variation(
    request: EditRequest,
    base: Image.Image,
    area: Image.Image | None,
    colour: tuple[int, int, int],
    index: int,
) -> Image.Image:
    # Rotate the colour channels (by one more place for each image) and mirror odd ones, so
    # that every variation differs from the input and from the others.
    red, green, blue, alpha = base.split()
    channels = [red, green, blue]
    shift = index % 3 + 1
    varied = Image.merge("RGBA", (*channels[shift:], *channels[:shift], alpha))
    if index % 2:
        varied = ImageOps.mirror(varied)
    return _within(area, varied, base)


def _remove_background(
    request: EditRequest,
    base: Image.Image,
    area: Image.Image | None,
    colour: tuple[int, int, int],
    index: int,
) -> Image.Image:
    background = area if area is not None else _background_area(base)
    result = base.copy()
    alpha = base.getchannel("A")
    result.putalpha(Image.composite(Image.new("L", base.size, 0), alpha, background))
    return result


def _replace_background(
    request: EditRequest,
    base: Image.Image,
    area: Image.Image | None,
    colour: tuple[int, int, int],
    index: int,
) -> Image.Image:
    background = area if area is not None else _background_area(base)
    return Image.composite(Image.new("RGBA", base.size, (*colour, 255)), base, background)


def _upscale(
    request: EditRequest,
    base: Image.Image,
    area: Image.Image | None,
    colour: tuple[int, int, int],
    index: int,
) -> Image.Image:
    # Nearest neighbour: each input pixel becomes a 2x2 block, exactly.
    return base.resize((base.width * 2, base.height * 2), Image.Resampling.NEAREST)


def _erase(
    request: EditRequest,
    base: Image.Image,
    area: Image.Image | None,
    colour: tuple[int, int, int],
    index: int,
) -> Image.Image:
    # Fill what the mask covers with the average colour of what it leaves: the surroundings.
    keep = ImageOps.invert(area) if area is not None else None
    fill = _average(base, keep)
    return _within(area, Image.new("RGBA", base.size, fill), base)


_OPERATIONS: dict[EditOperation, Operation] = {
    EditOperation.EDIT: _edit,
    EditOperation.INPAINT: _inpaint,
    EditOperation.OUTPAINT: _outpaint,
    EditOperation.VARIATION: _variation,
    EditOperation.REMOVE_BACKGROUND: _remove_background,
    EditOperation.REPLACE_BACKGROUND: _replace_background,
    EditOperation.UPSCALE: _upscale,
    EditOperation.ERASE: _erase,
}


def _vectorize(base: Image.Image) -> EditedImage:
    """A tiny SVG: the image as a grid of flat rectangles of each cell's average colour."""
    columns = min(VECTOR_GRID, base.width)
    rows = min(VECTOR_GRID, base.height)
    cells = base.convert("RGB").resize((columns, rows), Image.Resampling.BOX)
    cell_width, cell_height = base.width / columns, base.height / rows
    shapes = []
    for row in range(rows):
        for column in range(columns):
            r, g, b = cells.getpixel((column, row))  # type: ignore[misc]
            shapes.append(
                f'<rect x="{column * cell_width:g}" y="{row * cell_height:g}" '
                f'width="{cell_width:g}" height="{cell_height:g}" '
                f'fill="#{r:02x}{g:02x}{b:02x}"/>'
            )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{base.width}" '
        f'height="{base.height}" viewBox="0 0 {base.width} {base.height}">'
        + "".join(shapes)
        + "</svg>"
    )
    return EditedImage(svg.encode(), SVG_MIME, base.width, base.height)


def _within(area: Image.Image | None, edited: Image.Image, base: Image.Image) -> Image.Image:
    """`edited` inside the edit area and `base` outside it (everywhere when no mask)."""
    if area is None:
        return edited
    return Image.composite(edited, base, area)


def _background_area(image: Image.Image) -> Image.Image:
    """Pixels close to the colour of the top-left corner: a placeholder's idea of background."""
    reference = image.getpixel((0, 0))
    assert isinstance(reference, tuple)
    bands = image.convert("RGB").split()
    close = [
        band.point(lambda v, ref=ref: 255 if abs(v - ref) <= BACKGROUND_TOLERANCE else 0)
        for band, ref in zip(bands, reference[:3], strict=True)
    ]
    area = close[0]
    for other in close[1:]:
        area = Image.composite(area, Image.new("L", image.size, 0), other)
    return area


def _average(image: Image.Image, where: Image.Image | None) -> tuple[int, int, int, int]:
    rgb = image.convert("RGB")
    if where is not None and where.getbbox() is None:
        where = None  # the mask covers everything: average the whole image
    pixel_count = 0
    totals = [0, 0, 0]
    histogram_source = rgb.split()
    for channel, band in enumerate(histogram_source):
        histogram = band.histogram(mask=where)
        totals[channel] = sum(value * count for value, count in enumerate(histogram))
        pixel_count = sum(histogram)
    if pixel_count == 0:
        return (0, 0, 0, 255)
    r, g, b = (round(t / pixel_count) for t in totals)
    return (r, g, b, 255)


def _open(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGBA")


def _png(image: Image.Image) -> EditedImage:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return EditedImage(out.getvalue(), PNG_MIME, image.width, image.height)


async def edit_with_placeholder(call: ProviderCall, payload: EditPayload) -> ProviderResult:
    """The placeholder provider's answer to an edit call: `n` edited images."""
    raw_seed = call.params.extra.get("seed", 0)
    request = EditRequest(
        operation=payload.operation,
        images=[image.data for image in payload.inputs.images],
        mask=payload.inputs.mask.data if payload.inputs.mask is not None else None,
        prompt=call.prompt,
        seed=raw_seed if isinstance(raw_seed, int) else 0,
        outpaint=payload.outpaint,
    )

    def render_all() -> list[EditedImage]:
        return [render_edit(request, index) for index in range(call.params.n)]

    # Pillow releases the GIL while it works; a thread keeps the event loop serving.
    edited = await asyncio.to_thread(render_all)
    first = edited[0]
    return ProviderResult(
        images=[
            GeneratedImage(data=e.data, mime_type=e.mime_type, width=e.width, height=e.height)
            for e in edited
        ],
        created=int(time.time()),
        size=f"{first.width}x{first.height}",
    )
