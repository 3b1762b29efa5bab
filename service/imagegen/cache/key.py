"""Whether a request may be cached, and the material its key and seal derive from."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import orjson

from imagegen.cache.entry import Material
from imagegen.deployment import Deployment
from imagegen.providers.base import ProviderCall
from imagegen.types import CacheControl

SEED = "seed"


def honours_seed(call: ProviderCall) -> bool:
    """The model takes a seed (it is one of its declared parameters) and the request set one:
    the same request then makes the same image."""
    declared = call.spec.provider_params
    return declared is not None and SEED in declared and SEED in call.params.extra


def cacheable(call: ProviderCall, control: CacheControl, *, default_on: bool) -> bool:
    """Reproducible requests are cached by default; any request when the caller opts in."""
    if control.use_cache is not None:
        return control.use_cache
    return default_on and honours_seed(call)


def edit_digests(call: ProviderCall) -> list[str]:
    """An edit's inputs as digests, in order (the order of input images matters), with the
    mask, the operation and the outpaint margins: two edits differing in any one of them
    must never share an entry. Empty for a generation."""
    edit = call.edit
    if edit is None:
        return []
    inputs = [hashlib.sha256(image.data).hexdigest() for image in edit.inputs.images]
    mask = edit.inputs.mask
    outpaint = edit.outpaint
    margins = (
        None if outpaint is None else (outpaint.left, outpaint.top, outpaint.right, outpaint.bottom)
    )
    return [
        f"operation:{edit.operation.value}",
        f"outpaint:{margins}",
        f"mask:{hashlib.sha256(mask.data).hexdigest() if mask is not None else ''}",
        *(f"image:{digest}" for digest in inputs),
    ]


def material(
    call: ProviderCall,
    group: Sequence[Deployment],
    *,
    namespace: str,
    input_digests: Sequence[str] = (),
) -> Material:
    """Every input that shapes the images: the group's models, each normalised parameter
    (seed included), the prompt, a caller's own endpoint, and the input images' hashes
    (edits: `input_digests`). Hashed here; none of it is stored."""
    params = call.params
    endpoint = call.endpoint
    document = {
        "models": sorted((d.provider, d.provider_model, d.base_model or "") for d in group),
        # A caller's own api_base or api_key (when the server accepts them) is another
        # upstream or another account: its images are never answered from the operator's.
        "api_base": endpoint.api_base,
        "api_key": endpoint.api_key if endpoint.caller_credentials else None,
        "prompt": call.prompt,
        "n": params.n,
        "quality": params.quality,
        "size": params.size,
        "aspect_ratio": params.aspect_ratio,
        "style": params.style,
        "user": params.user,
        "response_format": params.response_format.value if params.response_format else None,
        "extra": params.extra,
        "inputs": list(input_digests),
        "namespace": namespace,
    }
    canonical = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return Material(hashlib.sha256(canonical).digest())
