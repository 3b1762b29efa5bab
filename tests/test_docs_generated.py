"""The generated reference pages (scripts/docgen): current, complete, and made from the source.

`make docs-check` (CI) fails on a stale page; these tests also hold the generators to what
they claim: every RPC and field of the contract, every config key with a description, every
provider with its models and prices.
"""

from __future__ import annotations

import pytest

from imagegen import errors
from imagegen._gen.v1 import image_generation_pb2, key_admin_pb2
from imagegen.pricing.table import load_price_table
from imagegen.providers.registry import Providers
from scripts.docgen import __main__ as docgen
from scripts.docgen import configref, errorsref, layersref, protoref, providerref


@pytest.fixture(scope="module")
def made() -> dict[str, str]:
    return {str(path.relative_to(docgen.ROOT)): text for path, text in docgen.pages().items()}


def test_committed_pages_match_the_generators() -> None:
    assert docgen.stale(docgen.pages()) == [], "run `make docs-gen` and commit docs/reference/"


def test_the_grpc_page_has_every_method_and_field_with_its_comment(made: dict[str, str]) -> None:
    page = made["docs/reference/grpc-api.md"]
    for module in (image_generation_pb2, key_admin_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            assert f"### service {service.name} " in page
            for method in service.methods:
                assert f"| `{method.name}` |" in page
        for message in module.DESCRIPTOR.message_types_by_name.values():
            assert f"### {message.name} {{#" in page
            for field in message.fields:
                assert f"| `{field.name}` | {field.number} |" in page
    # A comment from the proto, read through protoc's source info.
    assert "Prices a request from the price table without generating anything" in page
    assert "| `prompt` | 1 | `string` | REQUIRED |" in page


def test_every_config_key_is_documented(made: dict[str, str]) -> None:
    undocumented = [
        f"{section.path or '<top>'}.{name}"
        for section in configref.sections()
        for name, field in section.model.model_fields.items()
        if not configref._description(section.model, name, field)
    ]
    assert undocumented == [], "give these keys an attribute docstring"
    page = made["docs/reference/configuration.md"]
    assert "| `max_in_flight_requests` | int \\| null | `null` |" in page
    assert "## `router_settings` {#router-settings}" in page


def test_every_provider_has_a_model_page_with_its_prices(made: dict[str, str]) -> None:
    providers = Providers.discover()
    for name in providers:
        assert f"docs/reference/models/{name}.md" in made
    local = made["docs/reference/models/local.md"]
    assert "| `placeholder` | generation | $0 (free) |" in local
    table = providerref.prices(providers)
    openai = made["docs/reference/models/openai.md"]
    price = table.lookup("openai", "gpt-image-1")
    assert price is not None
    assert f"({price.retrieved})" in openai
    assert "| `dall-e-3` |" in openai
    # An edit operation billed otherwise than the model's generations has a row of its own.
    recraft = made["docs/reference/models/recraft.md"]
    assert "| `recraftv3` | generation |" in recraft
    edit = table.lookup("recraft", "recraftv3", "inpaint")
    assert edit is not None and edit is not table.lookup("recraft", "recraftv3")
    assert "| `recraftv3` | inpaint |" in recraft


def test_a_model_without_a_price_says_unknown() -> None:
    assert providerref.price_text(None) == "unknown"
    free = load_price_table().lookup("local", "placeholder")
    assert providerref.price_text(free) == "$0 (free)"


def test_protoc_reads_the_comments_not_the_text() -> None:
    files = protoref.descriptor_set(["imagegen/v1/key_admin.proto"]).file
    own = [f for f in files if f.name == "imagegen/v1/key_admin.proto"]
    assert own and own[0].source_code_info.location


def test_the_layer_diagram_is_the_import_linter_contract(made: dict[str, str]) -> None:
    diagram = made["docs/reference/layers.md"]
    found = layersref.layers()
    assert found[0] == "cli" and found[-1] == "errors"
    for index, layer in enumerate(found):
        assert f'L{index}["{layer}"]' in diagram


def test_the_error_page_lists_every_reason(made: dict[str, str]) -> None:
    page = made["docs/reference/errors.md"]
    classes = errorsref.error_classes()
    assert errors.ImageGenError not in classes
    for cls in classes:
        assert f"| `{cls.reason}` | {cls.code.name} | {cls.http_status} |" in page
    reasons = {cls.reason for cls in classes}
    assert {"UNSUPPORTED_PARAMETER", "PROVIDER_RATE_LIMITED", "BUDGET_EXCEEDED"} <= reasons
