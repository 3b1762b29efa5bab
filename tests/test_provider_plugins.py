"""Providers plug in: a package installed beside imagegen adds one through the
`imagegen.providers` entry point group, with nothing in imagegen edited; each Gateway owns
its adapter instances."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from imagegen.config import parse_settings
from imagegen.errors import ConfigError
from imagegen.gateway import Gateway
from imagegen.providers.base import Endpoint, ModelSpec
from imagegen.providers.local import LocalProvider
from imagegen.providers.registry import ENTRY_POINT_GROUP, Providers
from imagegen.types import ImageRequest
from tests.conftest import GatewayFactory
from tests.fakes.openai import OpenAIFake

# A third-party adapter: an OpenAI-shaped API under its own name, its own option and models.
ADAPTER = """
from dataclasses import replace
from typing import ClassVar

from imagegen.providers.base import Endpoint, HttpProvider, HttpRequest, ModelSpec, ProviderCall
from imagegen.providers.openai import openai_body, parse_openai_error, parse_openai_images
from imagegen.providers.openai_models import openai_spec


class AcmeProvider(HttpProvider):
    name: ClassVar[str] = "acme"
    env_api_key: ClassVar[tuple[str, ...]] = ("ACME_API_KEY",)
    endpoint_options: ClassVar[tuple[str, ...]] = ("acme_team",)
    bare_models: ClassVar[tuple[str, ...]] = ("acme-painter",)
    price_rows: ClassVar[str] = '''
[[price]]
providers = ["acme"]
models = ["acme-painter"]
basis = "per_image"
per_image = {"*" = "0.02"}
source = "acme.invalid/pricing"
retrieved = "2026-12-04"
'''

    def spec_for(self, model):
        return replace(openai_spec("gpt-image-1"), family="acme-painter")

    def api_base(self, endpoint):
        return (endpoint.api_base or "https://api.acme.invalid/v1").rstrip("/")

    def check_endpoint(self, endpoint, model):
        pass

    def build_request(self, call):
        return HttpRequest(
            method="POST",
            url=f"{self.api_base(call.endpoint)}/images/generations",
            headers={
                "authorization": f"Bearer {call.endpoint.api_key}",
                "x-acme-team": str(call.endpoint.options.get("acme_team", "")),
            },
            json={**openai_body(call), "model": "gpt-image-1"},
        )

    def parse_response(self, call, response):
        return parse_openai_images(call, response, provider=self.name)

    def parse_error(self, call, response):
        return parse_openai_error(call, response, provider=self.name)
"""


def install_plugin(root: Path, monkeypatch: pytest.MonkeyPatch, entry_points: str) -> None:
    """A distribution on sys.path, as pip would leave it: the module and its dist-info."""
    (root / "acme_imagegen.py").write_text(ADAPTER)
    info = root / "acme_imagegen-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-imagegen\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    monkeypatch.syspath_prepend(str(root))


ACME = f"""
[{ENTRY_POINT_GROUP}]
acme = acme_imagegen:AcmeProvider
"""


async def test_an_installed_package_adds_a_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gateway_for: GatewayFactory
) -> None:
    install_plugin(tmp_path, monkeypatch, ACME)
    providers = Providers.discover()
    assert "acme" in providers and "openai" in providers
    assert "acme_team" in providers.endpoint_options
    assert providers.split_model("acme-painter") == ("acme", "acme-painter")

    async with OpenAIFake() as fake:
        gateway = gateway_for(f"""
            model_list:
              - model_name: painter
                litellm_params:
                  model: acme/acme-painter
                  api_base: {fake.base_url}/v1
                  api_key: {fake.api_key}
                  acme_team: blue
            """)
        generation = await gateway.generate(ImageRequest.create(prompt="an otter", model="painter"))
    assert len(generation.result.images) == 1
    assert generation.facts.provider == "acme"
    # Priced from the rows the adapter brought, not from imagegen's table.
    assert generation.facts.response_cost == Decimal("0.02")
    # acme_team is the adapter's endpoint option: a header, not a body parameter.
    assert fake.requests[-1].headers["x-acme-team"] == "blue"
    assert "acme_team" not in fake.requests[-1].json


def test_a_provider_declared_twice_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(
        tmp_path, monkeypatch, f"[{ENTRY_POINT_GROUP}]\nopenai = acme_imagegen:AcmeProvider\n"
    )
    with pytest.raises(ConfigError, match="'openai' is declared twice"):
        Providers.discover()


def test_an_entry_point_must_name_its_adapter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(
        tmp_path, monkeypatch, f"[{ENTRY_POINT_GROUP}]\nacme2 = acme_imagegen:AcmeProvider\n"
    )
    with pytest.raises(ConfigError, match="'acme2' makes an adapter named 'acme'"):
        Providers.discover()


async def test_each_gateway_owns_its_adapters() -> None:
    settings = parse_settings("model_list: []\nserver_settings: {serve_unlisted_models: true}")
    first, second = Gateway(settings), Gateway(settings)
    try:
        assert set(first.providers) == set(second.providers)
        for name in first.providers:
            assert first.providers[name] is not second.providers[name]
    finally:
        await first.aclose()
        await second.aclose()


class CountingLocal(LocalProvider):
    """The offline adapter, counting how often its model table is consulted."""

    def __init__(self) -> None:
        self.lookups = 0

    def spec_for(self, model: str) -> ModelSpec:
        self.lookups += 1
        return super().spec_for(model)

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        pass  # the local adapter checks by looking its table up: not the gateway's lookups


async def test_a_deployment_is_resolved_once_not_at_every_step() -> None:
    adapter = CountingLocal()
    settings = parse_settings(
        "model_list:\n"
        "  - model_name: img\n"
        "    litellm_params: {model: local/placeholder}\n"
        "  - model_name: img\n"
        "    litellm_params: {model: local/placeholder}\n"
        "    model_info: {id: second}\n"
        "router_settings: {routing_strategy: cost-based-routing}\n"
    )
    gateway = Gateway(settings, providers=Providers([adapter]))
    try:
        request = ImageRequest.create(prompt="an otter", model="img", n=2)
        for _ in range(3):
            await gateway.generate(request)
        gateway.quote(request)
        gateway.describe_models()
    finally:
        await gateway.aclose()
    # Once per deployment: routing by cost, the quote, each attempt and its cost share it.
    assert adapter.lookups == 2
