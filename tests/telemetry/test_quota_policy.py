"""An unreachable shared quota store: each fail-open or fail-closed choice is counted and
logged without secrets."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from imagegen.config import parse_settings
from imagegen.errors import Code, QuotaStateUnavailableError
from imagegen.spend.hook import AccessHook
from tests.fakes.openai import OpenAIFake
from tests.spend_helpers import MASTER, TEAM_KEY, access_config
from tests.telemetry.conftest import ObserveFactory
from tests.test_router_redis import _free_port


@pytest.mark.parametrize("fail_open", [False, True])
async def test_each_outage_decision_is_counted_and_logged(
    observe: ObserveFactory,
    openai_fake: OpenAIFake,
    tmp_path: Path,
    fail_open: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from imagegen.client import AsyncImageGenClient

    config = access_config(
        openai_fake,
        general={
            "master_key": MASTER,
            "spend_log_path": str(tmp_path / "spend.sqlite3"),
            "quota_redis_url": f"redis://127.0.0.1:{_free_port()}/0",
            "quota_fail_open": fail_open,
        },
        keys=[{"alias": "team", "key": TEAM_KEY, "max_budget": "1", "rpm": 10}],
    )
    settings = parse_settings(config, source="quota-policy.yaml")
    observed = await observe(settings, hooks=[AccessHook(settings.access, default_model=None)])
    caplog.set_level(logging.WARNING, logger="imagegen.spend.quota")
    async with AsyncImageGenClient(observed.served.address, api_key=TEAM_KEY) as team:
        for _ in range(2):
            if fail_open:
                await team.generate_images("a cat", model="dall-e-2", size="256x256")
            else:
                with pytest.raises(QuotaStateUnavailableError) as caught:
                    await team.generate_images("a cat", model="dall-e-2", size="256x256")
                assert caught.value.code is Code.UNAVAILABLE and caught.value.retry_after
    action = "fail_open" if fail_open else "fail_closed"
    # One decision per call: the budget and the rate windows are taken in one step.
    assert observed.point("imagegen.quota.decisions", step="take", action=action).value == 2
    warnings = [r.getMessage() for r in caplog.records if r.name == "imagegen.spend.quota.policy"]
    assert len(warnings) == 1  # one line per outage window, not one per call
    assert action in warnings[0] and "key_id=" in warnings[0]
    assert TEAM_KEY not in warnings[0] and MASTER not in warnings[0]
