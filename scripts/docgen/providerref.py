"""docs/reference/models/<provider>.md: each provider's models, as its adapter checks them
(`spec_for` → ModelSpec: sizes, n, qualities, styles, provider params, edit operations) and
as the price table bills them (prices.toml and the adapter's own `price_rows`, with each
row's source and date).

The fragments are included into the provider pages (docs/providers/) by pymdownx.snippets.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from decimal import Decimal
from unittest import mock

from imagegen.errors import ImageGenError
from imagegen.gateway import _with_adapter_prices
from imagegen.pricing.table import Price, PriceTable, load_price_table
from imagegen.providers.base import Endpoint, ModelSpec, ParamSpec, Provider
from imagegen.providers.edit_support import capability_of
from imagegen.providers.registry import Providers
from scripts.docgen import markdown
from scripts.docgen.markdown import GENERATED_NOTE, cell, code

# Each adapter's own model table: the names its spec_for knows by name. Names that only
# the price table or bare_models mention are added to these; a provider missing here is
# documented from those alone.
MODEL_TABLES: Mapping[str, tuple[str, ...]] = {
    "openai": ("imagegen.providers.openai_models:OPENAI_MODELS",),
    "azure": ("imagegen.providers.openai_models:OPENAI_MODELS",),
    "gemini": ("imagegen.providers.gemini:GEMINI_MODELS",),
    "vertex_ai": (
        "imagegen.providers.vertex:VERTEX_MODELS",
        "imagegen.providers.vertex_edits:CAPABILITY_FAMILY",
    ),
    "bedrock": (
        "imagegen.providers.bedrock_models:FAMILIES",
        "imagegen.providers.bedrock_stability_edits:SERVICES",
    ),
    "black_forest_labs": ("imagegen.providers.bfl:BFL_MODELS",),
    "fal_ai": ("imagegen.providers.fal:FAL_APPS",),
    "recraft": ("imagegen.providers.recraft:RECRAFT_MODELS",),
    "replicate": ("imagegen.providers.replicate:REPLICATE_MODELS",),
    "stability": (
        "imagegen.providers.stability:STABILITY_MODELS",
        "imagegen.providers.stability_edits:EDIT_ROUTES",
    ),
    "xai": ("imagegen.providers.xai:XAI_MODELS",),
}


def _table_names(reference: str) -> list[str]:
    module, attribute = reference.split(":")
    value = getattr(importlib.import_module(module), attribute)
    if isinstance(value, str):  # one model named by a constant
        return [value]
    return [str(name) for name in value]


def prices(providers: Providers) -> PriceTable:
    """The shipped table plus every adapter's own rows, merged as the gateway merges them."""
    return _with_adapter_prices(load_price_table(), providers)


def model_names(adapter: Provider, table: PriceTable) -> list[str]:
    """The models the adapter knows by name, in its own table's order, then priced ones."""
    names: list[str] = []
    for reference in MODEL_TABLES.get(adapter.name, ()):
        names += _table_names(reference)
    names += sorted(model for provider, model in table.rows if provider == adapter.name)
    names += list(adapter.bare_models)
    known: list[str] = []
    for name in dict.fromkeys(names):
        try:
            spec = adapter.spec_for(name)
        except ImageGenError:
            continue
        if spec.known:
            known.append(name)
    return known


def _sizes(spec: ModelSpec) -> str:
    parts = []
    if spec.sizes:
        parts.append(", ".join(spec.sizes))
    if spec.aspect_ratios:
        parts.append("ratios " + ", ".join(spec.aspect_ratios))
    if spec.size_rule:
        parts.append("free-form: " + spec.size_rule.describe())
    return "; or ".join(parts) or "not checked"


def _n(spec: ModelSpec) -> str:
    if spec.max_images_per_call and spec.max_images_per_call < spec.max_n:
        return f"{spec.max_n} ({spec.max_images_per_call} per call)"
    return str(spec.max_n)


def _choices(values: Iterable[str] | None, param: str, spec: ModelSpec) -> str:
    if param not in spec.params:
        return "—"
    return ", ".join(values) if values else "any"


def _param(name: str, rule: ParamSpec) -> str:
    detail = rule.kind.__name__
    if rule.choices:
        detail = " / ".join(rule.choices)
    elif rule.minimum is not None or rule.maximum is not None:
        low = "" if rule.minimum is None else _number(rule.minimum)
        high = "" if rule.maximum is None else _number(rule.maximum)
        detail = f"{detail} {low}..{high}"
    return f"`{name}` ({detail})"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _provider_params(spec: ModelSpec) -> str:
    if spec.provider_params is None:
        return "passed through unchecked"
    if not spec.provider_params:
        return "none"
    return ", ".join(_param(name, rule) for name, rule in sorted(spec.provider_params.items()))


def _edits(spec: ModelSpec) -> str:
    capability = capability_of(spec)
    if capability is None:
        return "—"
    operations = ", ".join(sorted(op.name for op in capability.operations))
    limit = capability.limits.max_images
    mask = "" if capability.takes_mask else "; no mask"
    return f"{operations} (≤ {limit} input image{'s' if limit != 1 else ''}{mask})"


def _usd(amount: Decimal) -> str:
    return f"${amount.normalize():f}" if amount else "$0"


def price_text(price: Price | None) -> str:
    if price is None:
        return "unknown"
    if price.basis == "free":
        return "$0 (free)"
    if price.basis == "per_image":
        return "per image: " + ", ".join(
            f"{'any size' if key == '*' else key} {_usd(amount)}"
            for key, amount in price.per_image.items()
        )
    rates = [
        ("text in", price.text_input),
        ("image in", price.image_input),
        ("image out", price.image_output),
        ("text out", price.text_output),
    ]
    return "per 1M tokens: " + ", ".join(
        f"{label} {_usd(rate)}" for label, rate in rates if rate is not None
    )


def _default_base(adapter: Provider) -> str | None:
    try:
        base = adapter.api_base(Endpoint())
    except (ImageGenError, ValueError):
        return None
    return base if "://" in base else None


def _facts(adapter: Provider) -> str:
    """What the adapter declares about its endpoint: variables, options, default base."""

    def names(values: Iterable[str]) -> str:
        return ", ".join(f"`{v}`" for v in values)

    rows = [["model strings", f"`{adapter.name}/<model>`"]]
    if adapter.bare_models:
        rows.append(["bare model names", names(adapter.bare_models)])
    if adapter.env_api_key:
        rows.append(["API key from", names(adapter.env_api_key) + " (or `api_key`)"])
    if adapter.env_api_base:
        rows.append(["base URL from", names(adapter.env_api_base) + " (or `api_base`)"])
    if adapter.env_api_version:
        rows.append(["API version from", names(adapter.env_api_version) + " (or `api_version`)"])
    base = _default_base(adapter)
    if base:
        rows.append(["default base URL", f"`{base}`"])
    if adapter.endpoint_options:
        rows.append(["deployment options", names(adapter.endpoint_options)])
    if adapter.credential_options:
        rows.append(["of which credentials", names(adapter.credential_options)])
    return markdown.table(["The adapter declares", ""], rows)


def _price_cells(price: Price | None) -> list[str]:
    source = f"{price.source} ({price.retrieved})" if price else "—"
    return [cell(price_text(price)), cell(source)]


def render_provider(adapter: Provider, table: PriceTable) -> str:
    names = model_names(adapter, table)
    out = [GENERATED_NOTE.format(source="providerref.py"), _facts(adapter)]
    if not names:
        out.append(
            "The adapter checks no model by name: any model string is passed to the "
            "provider, which checks it; see the rest of this page.\n"
        )
        return "\n".join(out)
    model_rows = []
    param_rows = []
    price_rows = []
    for name in names:
        spec = adapter.spec_for(name)
        formats = ", ".join(f.value for f in spec.response_formats)
        model_rows.append(
            [
                code(name),
                cell(_sizes(spec)),
                _n(spec),
                cell(_choices(spec.qualities, "quality", spec)),
                cell(_choices(spec.styles, "style", spec)),
                formats,
                cell(_edits(spec)),
            ]
        )
        param_rows.append([code(name), cell(_provider_params(spec))])
        # As the gateway prices a call: by the model's family (snapshots share a row), and an
        # edit by its operation's row where one differs from the model's own.
        key = spec.family if spec.known else name
        price = table.lookup(adapter.name, key)
        price_rows.append([code(name), "generation", *_price_cells(price)])
        capability = capability_of(spec)
        for operation in sorted(capability.operations if capability else ()):
            edit_price = table.lookup(adapter.name, key, operation.value)
            if edit_price is not price:
                price_rows.append([code(name), operation.value, *_price_cells(edit_price)])
    out.append(
        markdown.table(
            [
                "Model",
                "Sizes",
                "n",
                "quality",
                "style",
                "Provider answers",
                "Edit operations",
            ],
            model_rows,
        )
    )
    out.append(markdown.table(["Model", "Provider params (`provider_params`)"], param_rows))
    out.append(
        "*Provider answers*: what the provider sends back (`b64_json`: bytes, `url`: a link); "
        "with a result store on, `response_format: url` works for every model (Images as URLs, "
        "and the cache).\n"
    )
    out.append(markdown.table(["Model", "Call", "Price (USD)", "Source (read on)"], price_rows))
    return "\n".join(out)


def render_all() -> dict[str, str]:
    """Fragment text by provider name, the same whatever this machine's environment says
    (adapters read AWS_REGION and the like for their default endpoints)."""
    with mock.patch.dict(os.environ, clear=True):
        providers = Providers.discover()
        price_table = prices(providers)
        return {
            name: render_provider(adapter, price_table)
            for name, adapter in sorted(providers.items())
        }
