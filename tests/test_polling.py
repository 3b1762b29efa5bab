"""The polling engine's own rules: which hosts a provider's answer may send us to, transient
poll failures, the result size limit, and the poll interval a deployment may fix."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import yaml

from imagegen.errors import ProviderBadResponseError
from imagegen.gateway import Gateway
from imagegen.providers import polling
from imagegen.providers.polling import AllowedHosts, PollPolicy
from imagegen.types import ImageRequest
from tests.conftest import GatewayFactory
from tests.fakes.fal import FalFake

KEY = "fal-test-key"


def hosts(api_base: str = "https://queue.fal.run") -> AllowedHosts:
    return AllowedHosts.for_api_base(api_base, ("queue.fal.run",), (".fal.media",))


@pytest.mark.parametrize(
    ("url", "credentials", "allowed"),
    [
        ("https://queue.fal.run/fal-ai/flux/requests/1/status", True, True),
        ("https://v3.fal.media/files/x.png", False, True),
        # Delivery hosts get no credentials: a status URL there is refused.
        ("https://v3.fal.media/files/x.png", True, False),
        # Known hosts are https only.
        ("http://queue.fal.run/fal-ai/flux/requests/1/status", True, False),
        # A suffix match is on a label boundary.
        ("https://evilfal.media/x.png", False, False),
        ("https://fal.media.attacker.example/x.png", False, False),
        ("https://169.254.169.254/latest/meta-data", False, False),
        ("https://user@queue.fal.run.attacker.example/", True, False),
        ("file:///etc/passwd", False, False),
        ("not a url", False, False),
    ],
)
def test_known_hosts(url: str, credentials: bool, allowed: bool) -> None:
    check = hosts()
    if allowed:
        assert check.check(url, provider="fal_ai", credentials=credentials) == url
    else:
        with pytest.raises(ProviderBadResponseError) as info:
            check.check(url, provider="fal_ai", credentials=credentials)
        assert url not in info.value.message


def test_the_configured_api_base_origin_is_allowed_with_its_port_and_scheme() -> None:
    check = hosts("http://127.0.0.1:8080/v1")
    assert check.check("http://127.0.0.1:8080/x/status", provider="p", credentials=True)
    for other in ("http://127.0.0.1:8081/x", "https://127.0.0.1:8080/x", "http://localhost:8080/"):
        with pytest.raises(ProviderBadResponseError):
            check.check(other, provider="p", credentials=False)


def test_a_fixed_interval_disables_backoff() -> None:
    policy = PollPolicy().with_fixed_interval(1.0)
    assert (policy.first_interval, policy.backoff, policy.max_interval) == (1.0, 1.0, 1.0)


@pytest.fixture
async def fal_fake() -> AsyncIterator[FalFake]:
    async with FalFake(api_key=KEY) as fake:
        yield fake


def gateway(fake: FalFake, gateway_for: GatewayFactory) -> Gateway:
    params = {
        "model": "fal_ai/fal-ai/flux/dev",
        "api_base": fake.base_url,
        "api_key": KEY,
        "poll_interval": 0.01,
    }
    return gateway_for(
        yaml.safe_dump({"model_list": [{"model_name": "flux", "litellm_params": params}]})
    )


async def test_a_rate_limited_or_failing_poll_is_retried_within_the_deadline(
    fal_fake: FalFake, gateway_for: GatewayFactory
) -> None:
    fal_fake.queue_polls, fal_fake.progress_polls = 1, 0
    fal_fake.status_failures = [429, 503]
    served = gateway(fal_fake, gateway_for)
    generation = await served.generate(ImageRequest.create(model="flux", prompt="a fox"))
    assert len(generation.result.images) == 1
    polls = [r for r in fal_fake.requests if r.path.endswith("/status")]
    assert len(polls) == 4  # two refused, one in the queue, one completed


async def test_a_result_file_over_the_size_limit_is_refused(
    fal_fake: FalFake, gateway_for: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(polling, "MAX_IMAGE_BYTES", 100)
    served = gateway(fal_fake, gateway_for)
    with pytest.raises(ProviderBadResponseError) as info:
        await served.generate(ImageRequest.create(model="flux", prompt="a fox"))
    assert "too large" in info.value.message


async def test_a_data_url_result_is_decoded_without_a_fetch(
    fal_fake: FalFake, gateway_for: GatewayFactory
) -> None:
    params = {
        "model": "fal_ai/fal-ai/some-app",
        "api_base": fal_fake.base_url,
        "api_key": KEY,
        "poll_interval": 0.01,
    }
    served = gateway_for(
        yaml.safe_dump({"model_list": [{"model_name": "app", "litellm_params": params}]})
    )
    request = ImageRequest.create(model="app", prompt="a fox", provider_params={"sync_mode": True})
    generation = await served.generate(request)
    (image,) = generation.result.images
    assert image.mime_type == "image/png" and image.data()[:4] == b"\x89PNG"
    assert fal_fake.aux_requests == []  # nothing fetched


async def test_a_chunked_result_file_over_the_limit_is_refused_while_reading(
    gateway_for: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.bfl import BflFake

    monkeypatch.setattr(polling, "MAX_IMAGE_BYTES", 2048)
    async with BflFake(api_key="k", pending_polls=0) as bfl:
        bfl.chunked_delivery = True
        params = {
            "model": "black_forest_labs/flux-pro-1.1",
            "api_base": bfl.base_url,
            "api_key": "k",
            "poll_interval": 0.01,
        }
        served = gateway_for(
            yaml.safe_dump({"model_list": [{"model_name": "f", "litellm_params": params}]})
        )
        with pytest.raises(ProviderBadResponseError) as info:
            await served.generate(ImageRequest.create(model="f", prompt="a busy market"))
        assert "too large" in info.value.message
        # Under the limit, the same chunked file is read whole.
        monkeypatch.setattr(polling, "MAX_IMAGE_BYTES", 64 * 1024 * 1024)
        generation = await served.generate(ImageRequest.create(model="f", prompt="a market"))
        assert generation.result.images[0].data()[:3] == b"\xff\xd8\xff"
