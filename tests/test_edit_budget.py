"""Key budgets on edits: each edit holds its quote before the provider is called, an edit whose
quote no longer fits is refused before any call, and the hold is settled at the actual cost
(FLUX Kontext [pro]: a flat 4 credits, $0.04, an image, edits included)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from imagegen.client import AsyncImageGenClient
from imagegen.errors import BudgetExceededError, Code
from tests.conftest import ServeFactory
from tests.fakes.bfl import BflFake
from tests.fakes.images import png_bytes
from tests.spend_helpers import MASTER, TEAM_KEY, sqlite_rows

KONTEXT_EDIT = Decimal("0.04")


@pytest.fixture
async def bfl_fake() -> AsyncIterator[BflFake]:
    async with BflFake(api_key="bfl-key", pending_polls=0) as fake:
        yield fake


def config(fake: BflFake, spend_log: Path, budget: str) -> str:
    return yaml.safe_dump(
        {
            "model_list": [
                {
                    "model_name": "kontext",
                    "litellm_params": {
                        "model": "black_forest_labs/flux-kontext-pro",
                        "api_base": fake.base_url,
                        "api_key": "bfl-key",
                    },
                }
            ],
            "general_settings": {"master_key": MASTER, "spend_log_path": str(spend_log)},
            "keys": [{"alias": "team", "key": TEAM_KEY, "max_budget": budget}],
        }
    )


async def test_edits_hold_their_quote_and_settle_at_the_actual_cost(
    serve: ServeFactory, bfl_fake: BflFake, tmp_path: Path
) -> None:
    spend_log = tmp_path / "spend.sqlite3"
    # 0.10 holds two edits of 0.04; the third quote (0.04) does not fit in the 0.02 left.
    served = await serve(config(bfl_fake, spend_log, "0.10"))
    images = [png_bytes(64, 48, 1), png_bytes(32, 32, 2)]

    async with AsyncImageGenClient(served.address, api_key=TEAM_KEY) as team:
        quote = await team.estimate_cost("kontext")
        done = [await team.edit_images(images, "make it dusk", model="kontext") for _ in "ab"]
        with pytest.raises(BudgetExceededError) as refused:
            await team.edit_images(images, "make it dusk", model="kontext")
        (by_key,) = await team.query_spend("key")

    assert Decimal(quote.cost) == KONTEXT_EDIT
    assert [d.cost.response_cost for d in done] == [KONTEXT_EDIT, KONTEXT_EDIT]
    assert refused.value.code is Code.RESOURCE_EXHAUSTED
    assert refused.value.subject == "key:team:budget"
    assert len(bfl_fake.input_images) == 2  # the refused edit reached no provider
    assert (by_key.requests, by_key.errors, Decimal(by_key.cost)) == (3, 1, 2 * KONTEXT_EDIT)
    rows = sqlite_rows(spend_log)
    ok = [r for r in rows if r["status"] == "OK"]
    assert [(r["cost"], r["charged"]) for r in ok] == [(KONTEXT_EDIT, KONTEXT_EDIT)] * 2
    assert [r["status"] for r in rows if r not in ok] == ["BUDGET_EXCEEDED"]
    # Every row, the refused one too, says what was asked: an edit of two inputs, by size.
    described = {(r["operation"], r["input_images"], r["input_bytes"]) for r in rows}
    assert described == {("edit", 2, sum(len(i) for i in images))}
    # Spend rows describe inputs at most by size: never the prompt, the bytes or their base64.
    cells = [str(value) for row in rows for value in row.values()]
    for data in images:
        assert not any(base64.b64encode(data).decode()[:40] in cell for cell in cells)
    assert not any("make it dusk" in cell for cell in cells)
