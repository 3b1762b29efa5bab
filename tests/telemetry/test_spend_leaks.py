"""Spend rows, spans and callback payloads of a run with virtual keys and multi-MB images hold
no key, no provider credential, no prompt and no image data.

The log lines of every test are scanned by tests/leak_scan.py; this run adds what only a
keyed, spend-logging, traced server produces, and scans those too, with the same rules.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import parse_settings
from imagegen.spend.hook import AccessHook
from tests.fakes.openai import OpenAIFake
from tests.leak_scan import find_leaks
from tests.telemetry.conftest import ObserveFactory
from tests.telemetry.test_logs import big_answer, noisy_png

CALLER_KEY = "ig-caller-key-for-the-leak-scan-7d1e2f"
PROMPT = "a lighthouse at dusk, prompt-marker-91c3"


def config(fake: OpenAIFake, spend_log: Path) -> str:
    entry = {
        "model_name": "gpt-image-1",
        "litellm_params": {
            "model": "openai/gpt-image-1",
            "api_base": f"{fake.base_url}/v1",
            "api_key": fake.api_key,
        },
    }
    return yaml.safe_dump(
        {
            "model_list": [entry],
            "general_settings": {"spend_log_path": str(spend_log), "spend_batch_interval_ms": 5},
            "keys": [{"alias": "scanner", "key": CALLER_KEY, "tags": ["leak-scan"]}],
        }
    )


def leaks(text: str, provider_key: str) -> list[str]:
    found = find_leaks(text)
    for secret, name in ((CALLER_KEY, "the caller's key"), (provider_key, "the provider key")):
        if secret in text:
            found.append(name)
    if PROMPT in text:
        found.append("the prompt")
    return found


async def test_spend_rows_spans_and_payloads_carry_no_secret_prompt_or_image(
    observe: ObserveFactory, tmp_path: Path
) -> None:
    spend_log = tmp_path / "spend.sqlite3"
    async with OpenAIFake() as fake:
        settings = parse_settings(config(fake, spend_log), source="leaks.yaml")
        access = AccessHook(settings.access, default_model=settings.default_model)
        observed = await observe(settings, hooks=[access])
        png = noisy_png(1024)
        auth = (("authorization", f"Bearer {CALLER_KEY}"),)
        fields: dict[str, Any] = {"prompt": PROMPT, "model": "gpt-image-1", "n": 2}

        fake.fail_next(200, big_answer(png))
        unary = await observed.stub.GenerateImages(
            pb.GenerateImagesRequest(**fields), metadata=auth
        )
        assert [image.data for image in unary.images] == [png, png]
        fake.fail_next(200, big_answer(png))
        kinds = [
            message.WhichOneof("event")
            async for message in observed.stub.StreamGenerateImages(
                pb.StreamGenerateImagesRequest(**fields), metadata=auth
            )
        ]
        assert kinds[-1] == "summary"
        with pytest.raises(grpc.aio.AioRpcError) as failed:  # its row and span are scanned too
            await observed.stub.GenerateImages(
                pb.GenerateImagesRequest(prompt="servererror", model="gpt-image-1"), metadata=auth
            )
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.aio.AioRpcError) as refused:  # a wrong key: still a row
            await observed.stub.GenerateImages(
                pb.GenerateImagesRequest(**fields),
                metadata=(("authorization", f"Bearer {CALLER_KEY}-wrong"),),
            )
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        await access.writer.flush(timeout=5.0)
        await observed.drain_callbacks()

        with sqlite3.connect(spend_log) as db:
            rows = db.execute("SELECT * FROM imagegen_spend").fetchall()
        assert len(rows) == 4
        texts = [("spend row", repr(row)) for row in rows]
        for span in observed.finished_spans():
            texts.append((f"span {span.name}", repr(dict(span.attributes or {}))))
            texts += [(f"event of {span.name}", repr(e.attributes)) for e in span.events]
        texts += [("callback payload", repr(p)) for p in observed.collected.payloads]
        assert len(texts) > 10
        found = [(where, leak) for where, text in texts for leak in leaks(text, fake.api_key)]
        assert found == []
