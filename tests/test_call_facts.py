"""Call facts are derived once, at the end, from what each layer recorded: the target the
router picked, the attempt log, the cache's and guardrails' outcomes.

Against the OpenAI fake on loopback: a first deployment that fails, a fallback that serves.
"""

from __future__ import annotations

from imagegen.config import settings_from_mapping
from imagegen.errors import ProviderUnavailableError
from imagegen.events import Accepted, Generation
from imagegen.gateway import Gateway
from imagegen.types import ImageRequest
from tests.fakes.openai import OpenAIFake

_DOWN = {"error": {"message": "down", "type": "server_error"}}


def _gateway(openai_fake: OpenAIFake, *, fallback: bool = True) -> Gateway:
    settings = settings_from_mapping(
        {
            "model_list": [
                {
                    "model_name": "img",
                    "litellm_params": {
                        "model": "openai/gpt-image-1",
                        "api_base": openai_fake.base_url + "/v1",
                        "api_key": "sk-test-openai",
                    },
                    "model_info": {"id": "first"},
                },
                {
                    "model_name": "backup",
                    "litellm_params": {"model": "local/placeholder"},
                    "model_info": {"id": "spare"},
                },
            ],
            "router_settings": {
                "num_retries": 0,
                "fallbacks": [{"img": ["backup"]}] if fallback else [],
            },
        }
    )
    return Gateway(settings)


async def test_the_stream_start_names_the_pick_and_the_end_names_who_served(
    openai_fake: OpenAIFake,
) -> None:
    gateway = _gateway(openai_fake)
    try:
        openai_fake.fail_next(500, _DOWN)
        request = ImageRequest.create(prompt="an otter", model="img", size="1024x1024")
        state = gateway.new_state(request)
        accepted: Accepted | None = None
        generation: Generation | None = None
        async for event in gateway.stream(request, state=state):
            if isinstance(event, Accepted):
                accepted = event
                # Nothing is settled while the request runs: the facts come at the end.
                assert state.facts.model_id == "" and state.facts.attempt_log == []
                assert state.facts_so_far().model_id == "first"
            elif isinstance(event, Generation):
                generation = event
        assert accepted is not None and generation is not None
        # The first event's snapshot stays what it was when it was sent.
        assert (accepted.facts.model_id, accepted.facts.attempts) == ("first", 0)
        facts = generation.facts
        assert facts is state.facts
        assert (facts.model_id, facts.provider, facts.provider_model) == (
            "spare",
            "local",
            "placeholder",
        )
        assert facts.fallback_model == "backup"
        assert facts.attempts == 2
        # Each attempt records its own deployment's model, whoever served in the end.
        assert [(a.model_id, a.provider_model, a.outcome) for a in facts.attempt_log] == [
            ("first", "gpt-image-1", "PROVIDER_UNAVAILABLE"),
            ("spare", "placeholder", "ok"),
        ]
        assert facts.response_cost is not None
    finally:
        await gateway.aclose()


async def test_a_failure_reports_the_deployment_it_went_to(openai_fake: OpenAIFake) -> None:
    gateway = _gateway(openai_fake, fallback=False)
    try:
        openai_fake.fail_next(500, _DOWN)
        request = ImageRequest.create(prompt="an otter", model="img")
        state = gateway.new_state(request)
        try:
            await gateway.generate(request, state=state)
        except ProviderUnavailableError as error:
            assert error.facts is state.facts
            assert (error.facts.model_id, error.facts.provider_model) == ("first", "gpt-image-1")
            assert error.facts.api_base == openai_fake.base_url + "/v1"
            assert [a.outcome for a in error.facts.attempt_log] == ["PROVIDER_UNAVAILABLE"]
            # An answered 5xx is not billed.
            assert error.facts.response_cost == 0
        else:
            raise AssertionError("the 500 should fail the request")
    finally:
        await gateway.aclose()


async def test_a_request_refused_by_the_model_rules_names_where_it_would_have_gone(
    openai_fake: OpenAIFake,
) -> None:
    gateway = _gateway(openai_fake, fallback=False)
    try:
        request = ImageRequest.create(prompt="an otter", model="img", size="17x17")
        state = gateway.new_state(request)
        try:
            await gateway.generate(request, state=state)
        except Exception as error:
            facts = getattr(error, "facts", None)
            assert facts is not None, error
            assert (facts.model_id, facts.provider) == ("first", "openai")
            assert facts.attempts == 0 and facts.response_cost == 0
        else:
            raise AssertionError("17x17 is not a size gpt-image-1 makes")
    finally:
        await gateway.aclose()
