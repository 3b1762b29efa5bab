"""Shared pieces of the spend and access tests: configs, clients, a read of the spend table."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from imagegen.client import AsyncImageGenClient
from tests.conftest import Served
from tests.fakes.openai import OpenAIFake

MASTER = "sk-master-key-for-tests-0123456789"
TEAM_KEY = "ig-team-key-for-tests-0123456789"
OTHER_KEY = "ig-other-key-for-tests-0123456789"


def openai_entry(fake: OpenAIFake, model: str) -> dict[str, Any]:
    return {
        "model_name": model,
        "litellm_params": {
            "model": f"openai/{model}",
            "api_base": fake.base_url + "/v1",
            "api_key": "sk-test-openai",
        },
    }


def access_config(
    fake: OpenAIFake,
    *,
    general: dict[str, Any],
    keys: list[dict[str, Any]] | None = None,
    models: tuple[str, ...] = ("dall-e-2", "dall-e-3", "gpt-image-1"),
    server: dict[str, Any] | None = None,
) -> str:
    document: dict[str, Any] = {
        "model_list": [openai_entry(fake, m) for m in models],
        "general_settings": general,
    }
    if keys is not None:
        document["keys"] = keys
    if server is not None:
        document["server_settings"] = server
    return yaml.safe_dump(document)


def client(served: Served, key: str | None) -> AsyncImageGenClient:
    return AsyncImageGenClient(served.address, api_key=key)


def sqlite_rows(path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM imagegen_spend ORDER BY time")]
    for row in rows:
        row["tags"] = json.loads(row["tags"])
        row["cost"] = None if row["cost"] is None else Decimal(row["cost"])
        row["charged"] = Decimal(row["charged"])
    return rows
