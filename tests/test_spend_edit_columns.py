"""Spend rows of edits: the operation, how many input images and their total size, in SQLite and
in a real PostgreSQL, never the images or their digests; a database made before these columns
gets them at open (old rows read as generations without inputs); QuerySpend and `imagegen spend`
group and total by operation."""

from __future__ import annotations

import asyncio
import hashlib
import io
import sqlite3
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.cli import main
from imagegen.spend.rows import SpendRow
from imagegen.spend.store import Store
from imagegen.spend.store_postgres import PostgresStore
from imagegen.spend.store_sqlite import SqliteStore
from tests.conftest import ServeFactory
from tests.fakes.images import jpeg_bytes, png_bytes

MASTER = "sk-master-key-for-tests-0123456789"
BEARER = (("authorization", f"Bearer {MASTER}"),)

# The spend table as the first release made it (before operation and the input columns).
OLD_SQLITE_SPEND = """
CREATE TABLE imagegen_spend (
    time REAL NOT NULL, request_id TEXT NOT NULL, key_id TEXT NOT NULL,
    key_alias TEXT NOT NULL, user_id TEXT NOT NULL, tags TEXT NOT NULL,
    model_group TEXT NOT NULL, deployment TEXT NOT NULL, provider TEXT NOT NULL,
    door TEXT NOT NULL, n INTEGER NOT NULL, images INTEGER NOT NULL, size TEXT NOT NULL,
    quality TEXT NOT NULL, status TEXT NOT NULL, cost TEXT, charged TEXT NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, latency_ms REAL NOT NULL,
    attempts INTEGER NOT NULL, prompt TEXT
)"""
OLD_POSTGRES_SPEND = """
CREATE TABLE imagegen_spend (
    time DOUBLE PRECISION NOT NULL, request_id TEXT NOT NULL, key_id TEXT NOT NULL,
    key_alias TEXT NOT NULL, user_id TEXT NOT NULL, tags JSONB NOT NULL,
    model_group TEXT NOT NULL, deployment TEXT NOT NULL, provider TEXT NOT NULL,
    door TEXT NOT NULL, n INTEGER NOT NULL, images INTEGER NOT NULL, size TEXT NOT NULL,
    quality TEXT NOT NULL, status TEXT NOT NULL, cost NUMERIC, charged NUMERIC NOT NULL,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
    latency_ms DOUBLE PRECISION NOT NULL, attempts INTEGER NOT NULL, prompt TEXT)"""
OLD_ROW = (
    1.0, "old-1", "", "", "", "[]", "placeholder", "local/placeholder", "local", "grpc",
    1, 1, "64x64", "", "OK", "0", "0", 0, 0, 3.5, 1, None,
)  # fmt: skip


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"


def api_mask(width: int, height: int) -> bytes:
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, width // 2, height // 2))
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def config(general: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {
            "model_list": [
                {"model_name": "placeholder", "litellm_params": {"model": "local/placeholder"}}
            ],
            "general_settings": {"master_key": MASTER, **general},
        }
    )


def general_for(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    if backend == "sqlite":
        return {"spend_log_path": str(tmp_path / "spend.sqlite3")}
    return {"database_url": request.getfixturevalue("pg_database")}


def read_rows(backend: str, general: dict[str, Any]) -> list[dict[str, Any]]:
    if backend == "sqlite":
        with sqlite3.connect(general["spend_log_path"]) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute("SELECT * FROM imagegen_spend ORDER BY time")]
    with psycopg.connect(general["database_url"]) as db:
        cursor = db.execute("SELECT * FROM imagegen_spend ORDER BY time")
        names = [c.name for c in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_an_edit_row_says_operation_input_count_and_bytes_and_nothing_of_the_pixels(
    serve: ServeFactory, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    general = general_for(backend, tmp_path, request)
    served = await serve(config(general))
    first, second, mask = png_bytes(64, 48, 1), jpeg_bytes(32, 32, 2), api_mask(64, 48)

    await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="a hat",
            model="placeholder",
            images=[first, second],
            mask=mask,
            operation=pb.EDIT_OPERATION_INPAINT,
        ),
        metadata=BEARER,
    )
    await served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a fox", model="placeholder", size="32x32"),
        metadata=BEARER,
    )
    groups = await served.stub.QuerySpend(
        pb.QuerySpendRequest(group_by=pb.SPEND_GROUP_BY_OPERATION), metadata=BEARER
    )

    edit_row, generation_row = read_rows(backend, general)
    total = len(first) + len(second) + len(mask)
    assert (edit_row["operation"], edit_row["input_images"], edit_row["input_bytes"]) == (
        "inpaint",
        2,
        total,
    )
    assert (generation_row["operation"], generation_row["input_images"]) == ("generate", 0)
    assert generation_row["input_bytes"] == 0
    # Sizes only: no column holds the inputs or any digest of them.
    digests = {hashlib.sha256(data).hexdigest()[:16] for data in (first, second, mask)}
    for value in edit_row.values():
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        assert not any(d in text for d in digests)
        assert first[:16].decode("latin-1") not in text

    by_operation = {g.group: g for g in groups.groups}
    assert set(by_operation) == {"inpaint", "generate"}
    assert (by_operation["inpaint"].input_images, by_operation["inpaint"].input_bytes) == (
        2,
        total,
    )
    assert (by_operation["generate"].requests, by_operation["generate"].input_images) == (1, 0)


def spend_row(operation: str, images: int, size: int) -> SpendRow:
    return SpendRow(
        time=time.time(),
        request_id=uuid.uuid4().hex,
        key_id="k",
        key_alias="team",
        user="",
        tags=(),
        model_group="placeholder",
        deployment="local/placeholder",
        provider="local",
        door="grpc",
        n=1,
        images=1,
        size="",
        quality="",
        status="OK",
        cost=Decimal("0.01"),
        charged=Decimal("0.01"),
        input_tokens=0,
        output_tokens=0,
        latency_ms=1.0,
        attempts=1,
        operation=operation,
        input_images=images,
        input_bytes=size,
    )


async def migrated(store: Store) -> None:
    await store.open()
    try:
        await store.insert([spend_row("vectorize", 1, 4096)])
        groups = {g.group: g for g in await store.summary("operation", None, None)}
        # The old row reads as a generation without inputs; the new one as what it was.
        assert (groups["generate"].requests, groups["generate"].input_bytes) == (1, 0)
        assert (groups["vectorize"].input_images, groups["vectorize"].input_bytes) == (1, 4096)
        assert groups["vectorize"].cost == Decimal("0.01")
    finally:
        await store.close()


async def test_an_sqlite_spend_log_from_before_the_columns_gets_them_at_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(OLD_SQLITE_SPEND)
        db.execute(f"INSERT INTO imagegen_spend VALUES ({', '.join('?' * len(OLD_ROW))})", OLD_ROW)
    await migrated(SqliteStore(path))
    # Opening again finds the columns there and leaves them be.
    await migrated_again(SqliteStore(path))


async def migrated_again(store: Store) -> None:
    await store.open()
    try:
        groups = {g.group: g.requests for g in await store.summary("operation", None, None)}
        assert groups == {"generate": 1, "vectorize": 1}
    finally:
        await store.close()


async def test_a_postgres_spend_log_from_before_the_columns_gets_them_at_open(
    pg_database: str,
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as db:
        db.execute(OLD_POSTGRES_SPEND)
        values: list[object] = list(OLD_ROW)
        values[16] = Decimal(0)
        values[15] = Decimal(0)
        db.execute(
            f"INSERT INTO imagegen_spend VALUES ({', '.join(['%s'] * len(OLD_ROW))})", values
        )
    await migrated(PostgresStore(pg_database))
    await migrated_again(PostgresStore(pg_database))


async def test_spend_cli_by_operation_prints_the_input_columns(
    serve: ServeFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = await serve(config({"spend_log_path": str(tmp_path / "spend.sqlite3")}))
    image = png_bytes(40, 40, 3)
    await served.stub.EditImages(
        pb.EditImagesRequest(
            model="placeholder", images=[image], operation=pb.EDIT_OPERATION_VECTORIZE
        ),
        metadata=BEARER,
    )
    argv = ["spend", "--by", "operation", "--target", served.address, "--master-key", MASTER]
    code = await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].split() == [
        "operation",
        "requests",
        "errors",
        "images",
        "cost_usd",
        "unknown_cost",
        "input_images",
        "input_bytes",
    ]
    assert out[2].split() == ["vectorize", "1", "0", "1", "0", "0", "1", str(len(image))]
