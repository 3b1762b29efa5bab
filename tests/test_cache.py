"""The image cache with LiteLLM's keys, through a real server: a seeded request paid once,
identical requests in flight flying once, and nothing in the cache readable without the
request that made it."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
import redis.asyncio as aioredis
import yaml
from google.protobuf import duration_pb2

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import parse_settings
from imagegen.errors import ConfigError
from imagegen.spend.hook import CACHE_HIT_TAG
from tests.conftest import Served, ServeFactory
from tests.fakes.openai import OpenAIFake
from tests.spend_helpers import MASTER, OTHER_KEY, TEAM_KEY, sqlite_rows
from tests.test_router_redis import redis_url  # noqa: F401  (the real redis-server fixture)


def cache_config(
    cache_params: dict[str, Any] | None = None,
    *,
    fake: OpenAIFake | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    models: list[dict[str, Any]] = [
        {"model_name": "placeholder", "litellm_params": {"model": "local/placeholder"}}
    ]
    if fake is not None:
        models.append(
            {
                "model_name": "gpt-image-1",
                "litellm_params": {
                    "model": "openai/gpt-image-1",
                    "api_key": fake.api_key,
                    "api_base": f"{fake.base_url}/v1",
                },
            }
        )
    settings: dict[str, Any] = {"cache": True}
    if cache_params is not None:
        settings["cache_params"] = cache_params
    document: dict[str, Any] = {"model_list": models, "litellm_settings": settings}
    document.update(extra or {})
    return yaml.safe_dump(document)


async def generate(
    served: Served, metadata: tuple[tuple[str, str], ...] = (), **fields: Any
) -> tuple[pb.GenerateImagesResponse, dict[str, str]]:
    seed = fields.pop("seed", None)
    request = pb.GenerateImagesRequest(**{"model": "placeholder", "size": "32x32", **fields})
    if seed is not None:
        request.provider_params.update({"seed": seed})
    call = served.stub.GenerateImages(request, metadata=metadata or None)
    response = await call
    trailers = {k: v for k, v in (await call.trailing_metadata() or ()) if isinstance(v, str)}
    return response, trailers


def image_bytes(response: pb.GenerateImagesResponse) -> list[bytes]:
    return [image.data for image in response.images]


# ----------------------------------------------------------------------------- configuration


def test_litellm_cache_keys_are_honoured_or_refused() -> None:
    settings = parse_settings("litellm_settings:\n  cache: true\n")
    assert settings.cache is not None and settings.cache.params.type == "local"
    assert parse_settings("litellm_settings:\n  drop_params: true\n").cache is None
    redis = parse_settings(
        "litellm_settings:\n  cache: true\n  cache_params:\n    type: redis\n"
        "    host: 127.0.0.1\n    port: 6390\n    password: pw\n"
    )
    assert redis.cache is not None and redis.cache.redis_url == "redis://:pw@127.0.0.1:6390/0"
    for params, message in (
        ("type: gcs", "'gcs' is not available"),
        ("type: memcached", "must be local, redis, disk or s3"),
        ("type: redis", "needs host"),
        ("similarity_threshold: 0.8", "cache_params.similarity_threshold: not a cache setting"),
        ("ttl: -1", "ttl"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_settings(f"litellm_settings:\n  cache: true\n  cache_params:\n    {params}\n")


# ----------------------------------------------------------------------------- seeded requests


async def test_two_identical_seeded_requests_cost_one_provider_call(serve: ServeFactory) -> None:
    served = await serve(cache_config())
    first, first_trailers = await generate(served, prompt="a lighthouse", seed=7, n=2)
    second, second_trailers = await generate(served, prompt="a lighthouse", seed=7, n=2)

    assert first_trailers["x-imagegen-cache"] == "miss"
    assert first_trailers["x-imagegen-attempts"] == "1"
    assert first.cost.cache == "miss"
    # The hit made no provider call, cost nothing, and says so in the trailers and response.
    assert second_trailers["x-imagegen-cache"] == "hit"
    assert second_trailers["x-imagegen-attempts"] == "0"
    assert second_trailers["x-imagegen-response-cost"] == "0"
    assert second.cost.cache == "hit"
    assert second.cost.model_id == first.cost.model_id
    assert image_bytes(second) == image_bytes(first)
    assert (second.images[0].width, second.images[0].height) == (32, 32)

    # Any parameter, the seed or the prompt changed: another key.
    for changed in ({"seed": 8}, {"prompt": "a lighthouse!"}, {"size": "16x16"}, {"n": 1}):
        fields: dict[str, Any] = {"prompt": "a lighthouse", "seed": 7, "n": 2, **changed}
        _, trailers = await generate(served, **fields)
        assert trailers["x-imagegen-cache"] == "miss", changed


async def test_unseeded_requests_are_never_cached(serve: ServeFactory) -> None:
    served = await serve(cache_config())
    for _ in range(2):
        _, trailers = await generate(served, prompt="a lighthouse")
        assert "x-imagegen-cache" not in trailers
        assert trailers["x-imagegen-attempts"] == "1"


async def test_default_off_caches_only_who_opts_in(serve: ServeFactory) -> None:
    served = await serve(cache_config({"mode": "default_off"}))
    for _ in range(2):
        _, trailers = await generate(served, prompt="a mill", seed=1)
        assert "x-imagegen-cache" not in trailers
    opt_in = pb.CacheControl(use_cache=True)
    _, miss = await generate(served, prompt="a mill", seed=1, cache=opt_in)
    _, hit = await generate(served, prompt="a mill", seed=1, cache=opt_in)
    assert (miss["x-imagegen-cache"], hit["x-imagegen-cache"]) == ("miss", "hit")


async def test_per_request_controls_over_grpc(serve: ServeFactory) -> None:
    served = await serve(cache_config())
    # no-store: made, not kept.
    _, trailers = await generate(
        served, prompt="a barn", seed=3, cache=pb.CacheControl(no_store=True)
    )
    assert trailers["x-imagegen-cache"] == "miss"
    _, trailers = await generate(served, prompt="a barn", seed=3)
    assert trailers["x-imagegen-cache"] == "miss"  # nothing was stored the first time
    # Now stored; no-cache: not answered from the cache, but still made (and stored).
    _, trailers = await generate(
        served, prompt="a barn", seed=3, cache=pb.CacheControl(no_cache=True)
    )
    assert (trailers["x-imagegen-cache"], trailers["x-imagegen-attempts"]) == ("miss", "1")
    _, trailers = await generate(served, prompt="a barn", seed=3)
    assert trailers["x-imagegen-cache"] == "hit"
    # s-maxage 0: no entry is fresh enough.
    zero = duration_pb2.Duration(seconds=0)
    _, trailers = await generate(
        served, prompt="a barn", seed=3, cache=pb.CacheControl(max_age=zero)
    )
    assert trailers["x-imagegen-cache"] == "miss"
    # A namespace of its own reads nothing of the default one.
    _, trailers = await generate(
        served, prompt="a barn", seed=3, cache=pb.CacheControl(namespace="tests")
    )
    assert trailers["x-imagegen-cache"] == "miss"
    # use_cache false: never cached, even seeded.
    _, trailers = await generate(
        served, prompt="a barn", seed=3, cache=pb.CacheControl(use_cache=False)
    )
    assert "x-imagegen-cache" not in trailers


async def test_http_door_takes_litellm_cache_object_and_sends_the_header(
    serve: ServeFactory,
) -> None:
    served = await serve(cache_config())
    url = f"{served.http_base_url}/v1/images/generations"
    body = {"model": "placeholder", "prompt": "a kite", "size": "16x16", "seed": 5}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body) as first:
            assert first.headers["x-imagegen-cache"] == "miss"
            first_data = (await first.json())["data"]
        async with http.post(url, json=body) as second:
            assert second.headers["x-imagegen-cache"] == "hit"
            assert second.headers["x-imagegen-response-cost"] == "0"
            assert (await second.json())["data"] == first_data
        async with http.post(url, json={**body, "cache": {"no-cache": True}}) as skipped:
            assert skipped.headers["x-imagegen-cache"] == "miss"
        async with http.post(url, json={**body, "cache": {"ttl": "soon"}}) as bad:
            assert bad.status == 400
            assert "cache" in (await bad.json())["error"]["message"]
        # A hit answered as a URL: the stored image is the cached one, byte for byte.
        async with http.post(url, json={**body, "response_format": "url"}) as as_url:
            assert as_url.headers["x-imagegen-cache"] == "hit"
            link = (await as_url.json())["data"][0]["url"]
        async with http.get(link) as image:
            import base64

            assert await image.read() == base64.b64decode(first_data[0]["b64_json"])


# ----------------------------------------------------------------------------- single flight


async def test_ten_concurrent_identical_requests_make_one_provider_call(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(cache_config(fake=openai_fake))
    openai_fake.delay = 0.5
    opt_in = pb.CacheControl(use_cache=True)
    answers = await asyncio.gather(
        *(
            generate(
                served, model="gpt-image-1", size="1024x1024", prompt="ten otters", cache=opt_in
            )
            for _ in range(10)
        )
    )
    assert len(openai_fake.requests) == 1
    images = {tuple(image_bytes(response)) for response, _ in answers}
    assert len(images) == 1
    caches = sorted(trailers["x-imagegen-cache"] for _, trailers in answers)
    assert caches == ["hit"] * 9 + ["miss"]
    costs = sorted(Decimal(trailers["x-imagegen-response-cost"]) for _, trailers in answers)
    assert costs[:9] == [Decimal(0)] * 9 and costs[9] > 0


async def test_a_waiter_is_bounded_by_its_own_deadline(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(cache_config(fake=openai_fake))
    openai_fake.delay = 1.5
    request = pb.GenerateImagesRequest(
        model="gpt-image-1", prompt="slow otter", cache=pb.CacheControl(use_cache=True)
    )
    leader = asyncio.ensure_future(served.stub.GenerateImages(request))
    await openai_fake.received.wait()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.GenerateImages(request, timeout=0.3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert (await leader).cost.cache == "miss"
    assert len(openai_fake.requests) == 1


async def test_a_failed_leader_leaves_waiters_to_call_for_themselves(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(cache_config(fake=openai_fake))
    openai_fake.delay = 0.3
    openai_fake.fail_next(500, '{"error": {"message": "boom", "type": "server_error"}}')
    request = pb.GenerateImagesRequest(
        model="gpt-image-1", prompt="an otter", cache=pb.CacheControl(use_cache=True)
    )
    results = await asyncio.gather(
        served.stub.GenerateImages(request),
        served.stub.GenerateImages(request),
        return_exceptions=True,
    )
    assert any(isinstance(r, pb.GenerateImagesResponse) for r in results)


# ----------------------------------------------------------------------------- keys and spend


async def test_keys_are_isolated_and_a_hit_is_marked_and_charged_nothing(
    serve: ServeFactory, tmp_path: Path
) -> None:
    spend_log = tmp_path / "spend.sqlite3"
    served = await serve(
        cache_config(
            extra={
                "general_settings": {"master_key": MASTER, "spend_log_path": str(spend_log)},
                "keys": [
                    {"alias": "team", "key": TEAM_KEY},
                    {"alias": "other", "key": OTHER_KEY},
                ],
            }
        )
    )

    def auth(key: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {key}"),)

    _, team_miss = await generate(served, auth(TEAM_KEY), prompt="a dune", seed=2)
    _, other_miss = await generate(served, auth(OTHER_KEY), prompt="a dune", seed=2)
    _, team_hit = await generate(served, auth(TEAM_KEY), prompt="a dune", seed=2)
    assert (team_miss["x-imagegen-cache"], other_miss["x-imagegen-cache"]) == ("miss", "miss")
    assert team_hit["x-imagegen-cache"] == "hit"

    access = served.running.gateway.hooks
    for hook in access:
        writer = getattr(hook, "writer", None)
        if writer is not None:
            await writer.flush(timeout=5.0)
    rows = sqlite_rows(spend_log)
    assert len(rows) == 3
    assert [CACHE_HIT_TAG in row["tags"] for row in rows] == [False, False, True]
    assert rows[2]["charged"] == Decimal(0) and rows[2]["cost"] == Decimal(0)
    assert rows[2]["attempts"] == 0


async def test_shared_cache_across_keys_when_configured(serve: ServeFactory) -> None:
    served = await serve(
        cache_config(
            {"share_across_keys": True},
            extra={
                "keys": [{"alias": "a", "key": TEAM_KEY}, {"alias": "b", "key": OTHER_KEY}],
                "general_settings": {"master_key": MASTER},
            },
        )
    )
    _, first = await generate(
        served, (("authorization", f"Bearer {TEAM_KEY}"),), prompt="a reef", seed=4
    )
    _, second = await generate(
        served, (("authorization", f"Bearer {OTHER_KEY}"),), prompt="a reef", seed=4
    )
    assert (first["x-imagegen-cache"], second["x-imagegen-cache"]) == ("miss", "hit")


# ----------------------------------------------------------------------------- backends


async def test_redis_cache_is_shared_by_replicas_and_holds_nothing_in_clear(
    serve: ServeFactory,
    redis_url: str,  # noqa: F811
) -> None:
    namespace = f"t{id(object())}"
    config = cache_config({"type": "redis", "redis_url": redis_url, "namespace": namespace})
    one, two = await serve(config), await serve(config)
    prompt = "a very private prompt about a walrus"
    first, miss = await generate(one, prompt=prompt, seed=11)
    second, hit = await generate(two, prompt=prompt, seed=11)
    assert (miss["x-imagegen-cache"], hit["x-imagegen-cache"]) == ("miss", "hit")
    assert image_bytes(second) == image_bytes(first)

    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"imagegen:cache:{namespace}:*")]
        assert len(keys) == 1
        value = await client.get(keys[0])
        ttl = await client.ttl(keys[0])
    finally:
        await client.aclose()
    assert isinstance(value, bytes)
    assert b"walrus" not in value and b"walrus" not in keys[0]
    assert first.images[0].data[:64] not in value  # the image is sealed too
    assert 0 < ttl <= 24 * 3600


async def test_disk_cache_survives_a_restart(serve: ServeFactory, tmp_path: Path) -> None:
    config = cache_config({"type": "disk", "disk_cache_dir": str(tmp_path / "cache"), "ttl": 60})
    first_server = await serve(config)
    first, miss = await generate(first_server, prompt="a glacier", seed=9)
    await first_server.running.stop(grace=0)
    second_server = await serve(config)
    second, hit = await generate(second_server, prompt="a glacier", seed=9)
    assert (miss["x-imagegen-cache"], hit["x-imagegen-cache"]) == ("miss", "hit")
    assert image_bytes(second) == image_bytes(first)
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and b"glacier" not in files[0].read_bytes()


async def test_python_client_sends_litellm_cache_controls(serve: ServeFactory) -> None:
    from imagegen.client import AsyncImageGenClient

    served = await serve(cache_config())
    client = AsyncImageGenClient(served.address)
    try:
        kwargs: dict[str, Any] = {"model": "placeholder", "size": "16x16", "seed": 6}
        first = await client.image_generation("a gull", **kwargs)
        stored = await client.image_generation("a gull", **kwargs)
        skipped = await client.image_generation("a gull", cache={"no-cache": True}, **kwargs)
        assert [r._hidden_params["cache"] for r in (first, stored, skipped)] == [
            "miss",
            "hit",
            "miss",
        ]
        with pytest.raises(ValueError, match=r"cache\.ttl"):
            await client.image_generation("a gull", cache={"ttl": "soon"}, **kwargs)
    finally:
        await client.close()


async def test_a_callers_own_key_never_reads_the_operators_entries(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(
        cache_config(
            fake=openai_fake, extra={"server_settings": {"allow_request_credentials": True}}
        )
    )
    opt_in = pb.CacheControl(use_cache=True)
    fields: dict[str, Any] = {"model": "gpt-image-1", "size": "1024x1024", "cache": opt_in}
    _, operator = await generate(served, prompt="a quay", **fields)
    _, own_key = await generate(served, prompt="a quay", api_key=openai_fake.api_key, **fields)
    _, own_again = await generate(served, prompt="a quay", api_key=openai_fake.api_key, **fields)
    assert [t["x-imagegen-cache"] for t in (operator, own_key, own_again)] == [
        "miss",
        "miss",
        "hit",
    ]


async def test_single_flight_spans_replicas_through_redis(
    serve: ServeFactory,
    openai_fake: OpenAIFake,
    redis_url: str,  # noqa: F811
) -> None:
    params = {"type": "redis", "redis_url": redis_url, "namespace": f"sf{id(object())}"}
    config = cache_config(params, fake=openai_fake)
    one, two = await serve(config), await serve(config)
    openai_fake.delay = 0.5
    fields: dict[str, Any] = {
        "model": "gpt-image-1",
        "size": "1024x1024",
        "prompt": "two harbours",
        "cache": pb.CacheControl(use_cache=True),
    }
    answers = await asyncio.gather(
        *(generate(served, **fields) for served in (one, two, one, two, one, two))
    )
    assert len(openai_fake.requests) == 1
    assert len({tuple(image_bytes(response)) for response, _ in answers}) == 1
    caches = sorted(trailers["x-imagegen-cache"] for _, trailers in answers)
    assert caches == ["hit"] * 5 + ["miss"]


# ----------------------------------------------------------------------------- edits


def _png(color: tuple[int, int, int], alpha_box: tuple[int, int, int, int] | None = None) -> bytes:
    from io import BytesIO

    from PIL import Image

    image = Image.new("RGBA", (16, 16), (*color, 255))
    if alpha_box is not None:
        image.paste((0, 0, 0, 0), alpha_box)
    out = BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def edit(
    served: Served, images: list[bytes], mask: bytes | None = None, prompt: str = "recolour"
) -> tuple[list[bytes], dict[str, str]]:
    request = pb.EditImagesRequest(model="placeholder", prompt=prompt, images=images)
    if mask is not None:
        request.mask = mask
    request.provider_params.update({"seed": 7})
    call = served.stub.EditImages(request)
    response = await call
    trailers = {k: v for k, v in (await call.trailing_metadata() or ()) if isinstance(v, str)}
    return [image.data for image in response.images], trailers


async def test_an_edit_is_cached_by_its_inputs_never_by_its_prompt_alone(
    serve: ServeFactory,
) -> None:
    served = await serve(cache_config())
    blue, red = _png((0, 0, 200)), _png((200, 0, 0))
    first, first_trailers = await edit(served, [blue])
    again, again_trailers = await edit(served, [blue])
    assert (first_trailers["x-imagegen-cache"], again_trailers["x-imagegen-cache"]) == (
        "miss",
        "hit",
    )
    assert again == first
    # Same prompt and seed, other input image, other order, a mask: each is another edit.
    other, other_trailers = await edit(served, [red])
    assert other_trailers["x-imagegen-cache"] == "miss"
    assert other != first
    _, swapped = await edit(served, [red, blue])
    _, ordered = await edit(served, [blue, red])
    assert (swapped["x-imagegen-cache"], ordered["x-imagegen-cache"]) == ("miss", "miss")
    _, masked = await edit(served, [blue], mask=_png((0, 0, 0), (4, 4, 12, 12)))
    assert masked["x-imagegen-cache"] == "miss"
    # A generation with the same prompt and seed is not answered from an edit's entry.
    _, generated = await generate(served, prompt="recolour", seed=7, size="16x16")
    assert generated["x-imagegen-cache"] == "miss"
