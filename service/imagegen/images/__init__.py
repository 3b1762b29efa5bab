"""Input images of edits: recognising, bounding and describing them, and converting masks.

Pure and free of grpc and HTTP, so the servicer, the HTTP door and the SDK validate the same
way before any provider is called.
"""

from imagegen.images.decode import InputImage
from imagegen.images.formats import ImageFormat, sniff_format
from imagegen.images.limits import InputLimits
from imagegen.images.masks import EditValue, edit_area, from_grayscale_mask, to_grayscale_mask
from imagegen.images.summary import ImageSummary
from imagegen.images.validate import EditInputs, validate_edit_inputs

__all__ = [
    "EditInputs",
    "EditValue",
    "ImageFormat",
    "ImageSummary",
    "InputImage",
    "InputLimits",
    "edit_area",
    "from_grayscale_mask",
    "sniff_format",
    "to_grayscale_mask",
    "validate_edit_inputs",
]
