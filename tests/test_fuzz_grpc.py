"""Property-based fuzzing of the gRPC contract against a live server.

Hypothesis generates GenerateImages and StreamGenerateImages requests — random and odd
unicode strings, huge and empty fields, out-of-range numbers and enum values, nested
provider params, caller credentials — and sends them to a real server (OpenAI fake and
the offline placeholder behind it). Whatever the request, the answer is either images or a
status that is not UNKNOWN or INTERNAL and carries a google.rpc.Status with an ErrorInfo of
the imagegen domain; the server keeps serving throughout.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import grpc
import pytest
import yaml
from google.protobuf import duration_pb2, struct_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc
from imagegen.config import parse_settings
from imagegen.server.app import RunningServer, start_server
from tests.fakes.openai import OpenAIFake

T = TypeVar("T")

SERVED = ("gpt-image-1", "dall-e-3", "placeholder")
FORBIDDEN_CODES = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}


class LiveServer:
    """A gateway and an OpenAI fake on their own event loop, in a thread, for sync tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = OpenAIFake()
        self.run(self.fake.__aenter__())
        entries = [
            {
                "model_name": name,
                "litellm_params": {
                    "model": f"openai/{name}",
                    "api_base": f"{self.fake.base_url}/v1",
                    "api_key": self.fake.api_key,
                },
            }
            for name in ("gpt-image-1", "dall-e-3")
        ]
        entries.append(
            {"model_name": "placeholder", "litellm_params": {"model": "local/placeholder"}}
        )
        config = yaml.safe_dump({"model_list": entries, "server_settings": {"http_port": None}})
        self.server: RunningServer = self.run(
            start_server(parse_settings(config, source="fuzz.yaml"), host="127.0.0.1", port=0)
        )
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{self.server.port}",
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
        )
        self.stub = pb_grpc.ImageGenerationStub(self.channel)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def close(self) -> None:
        self.channel.close()
        self.run(self.server.stop(grace=0))
        self.run(self.fake.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    server = LiveServer()
    try:
        yield server
    finally:
        server.close()


# ---------------------------------------------------------------- strategies

odd_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
some_text = st.one_of(
    st.just(""),
    st.just(""),
    odd_text,
    st.sampled_from(["low", "high", "hd", "standard", "auto", "vivid", "natural", "1024x1024"]),
    st.builds(lambda n: "x" * n, st.integers(1000, 300_000)),
)
sizes = st.one_of(
    some_text,
    st.from_regex(r"\A-?[0-9]{1,6}[xX*:]-?[0-9]{1,6}\Z"),
    st.sampled_from(["1024x1024", "1536x1024", "1792x1024", "auto", "16:9", "0x0"]),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**53), 2**53),
    odd_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(odd_text, children, max_size=4)
    ),
    max_leaves=12,
)
provider_params = st.dictionaries(
    st.one_of(odd_text, st.sampled_from(["seed", "background", "output_format", "moderation"])),
    json_values,
    max_size=4,
)


VALID_BASES: tuple[dict[str, Any], ...] = (
    {"prompt": "a fox", "model": "gpt-image-1", "quality": "low", "size": "1024x1024", "n": 1},
    {"prompt": "a fox", "model": "dall-e-3", "quality": "standard", "size": "1024x1024"},
    {"prompt": "a fox", "model": "placeholder", "n": 2},
)


@st.composite
def random_fields(draw: st.DrawFn) -> dict[str, Any]:
    """Every field drawn at random: mostly rejected, which is the point."""
    fields: dict[str, Any] = {
        "prompt": draw(st.one_of(st.just("a fox"), some_text)),
        "model": draw(st.one_of(st.sampled_from(SERVED), odd_text)),
        "quality": draw(some_text),
        "size": draw(sizes),
        "style": draw(some_text),
        "user": draw(some_text),
        "request_id": draw(st.one_of(st.just(""), odd_text)),
        "tags": draw(st.lists(some_text, max_size=70)),
        "drop_params": draw(st.booleans()),
        "response_format": draw(st.integers(0, 9)),
    }
    n = draw(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1), st.integers(0, 12)))
    if n is not None:
        fields["n"] = n
    if draw(st.booleans()):
        seconds = draw(st.integers(-(10**6), 10**6))
        nanos = draw(st.integers(-999_999_999, 999_999_999))
        fields["timeout"] = duration_pb2.Duration(seconds=seconds, nanos=nanos)
    if draw(st.booleans()):
        params = struct_pb2.Struct()
        params.update(draw(provider_params))
        fields["provider_params"] = params
    if draw(st.integers(0, 9)) == 0:
        fields["api_key"] = draw(odd_text)
        fields["api_base"] = draw(st.sampled_from(["http://169.254.169.254/", "", "file:///x"]))
    return fields


@st.composite
def request_fields(draw: st.DrawFn) -> dict[str, Any]:
    """Half fully random requests, half valid ones with one or two fields mutated, so that
    the fuzzing also reaches the provider call and the response path."""
    wild = draw(random_fields())
    if draw(st.booleans()):
        return wild
    fields = dict(draw(st.sampled_from(VALID_BASES)))
    for name in draw(st.lists(st.sampled_from(sorted(wild)), max_size=2, unique=True)):
        fields[name] = wild[name]
    return fields


# ---------------------------------------------------------------- checks


def assert_well_formed_error(error: grpc.RpcError) -> None:
    assert isinstance(error, grpc.Call)
    code = error.code()
    assert code not in FORBIDDEN_CODES, (code, error.details())
    details = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert isinstance(details, bytes), f"{code} without google.rpc.Status details"
    status = status_pb2.Status.FromString(details)
    assert status.code == code.value[0]
    infos = []
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            infos.append(info)
    assert len(infos) == 1 and infos[0].domain == "imagegen" and infos[0].reason


def assert_serving(live: LiveServer) -> None:
    health = health_pb2_grpc.HealthStub(live.channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


# CI runs a bounded number of examples; `IMAGEGEN_FUZZ_EXAMPLES=5000 make test` digs deeper.
EXAMPLES = int(os.environ.get("IMAGEGEN_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(fields=request_fields())
def test_unary_answers_images_or_a_well_formed_error(
    live: LiveServer, fields: dict[str, Any]
) -> None:
    try:
        response = live.stub.GenerateImages(pb.GenerateImagesRequest(**fields), timeout=20)
    except grpc.RpcError as error:
        assert_well_formed_error(error)
        event(f"unary {error.code().name}")
    else:
        event("unary OK")
        assert response.images, "a successful call returns at least one image"
        assert all(image.data or image.url for image in response.images)


@settings(FUZZ, max_examples=max(1, EXAMPLES * 2 // 5))
@given(fields=request_fields(), partial_images=st.integers(-5, 8))
def test_stream_ends_in_a_summary_or_a_well_formed_error(
    live: LiveServer, fields: dict[str, Any], partial_images: int
) -> None:
    request = pb.StreamGenerateImagesRequest(**fields, partial_images=partial_images)
    kinds: list[str | None] = []
    try:
        for message in live.stub.StreamGenerateImages(request, timeout=20):
            kinds.append(message.WhichOneof("event"))
    except grpc.RpcError as error:
        assert_well_formed_error(error)
        event(f"stream {error.code().name}")
    else:
        event("stream OK")
        assert kinds[0] == "accepted" and kinds[-1] == "summary"


def test_the_server_still_serves_after_the_fuzzing(live: LiveServer) -> None:
    assert_serving(live)
    response = live.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a calm lake", model="placeholder"), timeout=20
    )
    assert len(response.images) == 1
