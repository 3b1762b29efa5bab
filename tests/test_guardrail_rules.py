"""The built-in guardrails' rules on their own (PII and Luhn, blocklist words) and the
`guardrails:` config section's errors, which must name the file, the entry and the key."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from imagegen.config import parse_settings
from imagegen.errors import ConfigError
from imagegen.guardrails.base import GuardrailConfig, GuardrailContext, Mode
from imagegen.guardrails.blocklist import Blocklist
from imagegen.guardrails.pii import Entity, find_and_mask, is_card_number, luhn_valid

ALL = frozenset(Entity)
CONTEXT = GuardrailContext(guardrail="g", model="m", n=1, size=None)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4111111111111111", True),  # Visa test number
        ("5500005555555559", True),  # Mastercard test number
        ("378282246310005", True),  # Amex (15 digits)
        ("6011111111111117", True),  # Discover
        ("4111111111111112", False),
        ("1234567812345678", False),
        ("79927398713", True),  # the textbook example (too short for a card, valid Luhn)
        ("79927398710", False),
    ],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


def test_card_numbers_need_a_card_length_and_a_valid_checksum() -> None:
    assert is_card_number("4111 1111 1111 1111")
    assert is_card_number("4111-1111-1111-1111")
    assert not is_card_number("4111 1111 1111 1112")
    assert not is_card_number("79927398713")  # Luhn-valid but 11 digits


@pytest.mark.parametrize(
    ("prompt", "masked"),
    [
        ("mail a.b+tag@sub.example.co.uk now", "mail [EMAIL] now"),
        ("pay with 4111111111111111.", "pay with [CARD]."),
        ("pay with 5500-0055-5555-5559", "pay with [CARD]"),
        ("seed 4111111111111112 please", None),
        ("call +1-555-123-4567 today", "call [PHONE] today"),
        ("call (555) 123-4567", "call [PHONE]"),
        ("call 555.123.4567", "call [PHONE]"),
        ("ring 030 1234 5678", "ring [PHONE]"),
        ("at +44 20 7946 0958", "at [PHONE]"),
        # Not personal data: sizes, years, ratios, plain counts, prices.
        ("1024x1536 in 2024-05-12, 16:9, 3 otters, $1,299.99", None),
        ("version 1.2.3 of otter@home", None),
    ],
)
def test_pii_masking(prompt: str, masked: str | None) -> None:
    result, counts = find_and_mask(prompt, ALL)
    assert result == (masked if masked is not None else prompt)
    assert bool(counts) is (masked is not None)


def test_pii_masks_only_the_listed_entities() -> None:
    result, counts = find_and_mask("me@example.com 4111111111111111", frozenset({Entity.CARD}))
    assert result == "me@example.com [CARD]"
    assert counts == {Entity.CARD: 1}


def blocklist(mode: Mode = Mode.BLOCK, **options: Any) -> Blocklist:
    return Blocklist(GuardrailConfig(name="b", mode=mode, options=options))


@pytest.mark.parametrize(
    ("prompt", "hit"),
    [
        ("a GUN on the table", True),
        ("gun.", True),
        ("begun", False),
        ("guns", False),
        ("shotgun", False),
        ("c++ and a gun-shaped cloud", True),
    ],
)
async def test_blocklist_keywords_are_whole_words_case_insensitive(prompt: str, hit: bool) -> None:
    verdict = await blocklist(keywords=["gun"]).check_prompt(prompt, CONTEXT)
    assert verdict.action == ("block" if hit else "allow")


async def test_blocklist_phrases_and_punctuated_keywords() -> None:
    rules = blocklist(keywords=["red rum", "c++"])
    assert (await rules.check_prompt("a RED RUM sign", CONTEXT)).action == "block"
    assert (await rules.check_prompt("learn C++ today", CONTEXT)).action == "block"
    assert (await rules.check_prompt("a red rumba", CONTEXT)).action == "allow"


async def test_blocklist_mask_replaces_every_match_and_reports_entries_not_text() -> None:
    rules = blocklist(Mode.MASK, keywords=["gun"], patterns=[r"\d{3}-\d{4}"])
    verdict = await rules.check_prompt("Gun and gun, call 555-1234", CONTEXT)
    assert verdict.action == "mask"
    assert verdict.prompt == "[blocked] and [blocked], call [blocked]"
    assert verdict.reason == "matched keyword 1, pattern 1"


# ----------------------------------------------------------------------------- config


def settings_with(
    guardrails: list[dict[str, Any]], model_info: dict[str, Any] | None = None
) -> Any:
    entry: dict[str, Any] = {
        "model_name": "placeholder",
        "litellm_params": {"model": "local/placeholder"},
    }
    if model_info is not None:
        entry["model_info"] = model_info
    text = yaml.safe_dump({"model_list": [entry], "guardrails": guardrails})
    return parse_settings(text, source="g.yaml")


def entry(kind: str, **params: Any) -> dict[str, Any]:
    return {"guardrail_name": "g1", "litellm_params": {"guardrail": kind, **params}}


@pytest.mark.parametrize(
    ("guardrails", "message"),
    [
        ([entry("nope", default_on=True)], "guardrails[0].litellm_params.guardrail: unknown kind"),
        (
            [entry("blocklist", default_on=True)],
            "guardrails[0].litellm_params.keywords or patterns: give at least one",
        ),
        (
            [entry("blocklist", default_on=True, patterns=["("])],
            "guardrails[0].litellm_params.patterns[0]: not a valid regex",
        ),
        (
            [entry("blocklist", default_on=True, keyword=["x"])],
            "guardrails[0].litellm_params.keyword: Extra inputs are not permitted",
        ),
        (
            [entry("prompt_length", default_on=True, max_chars=10, mode="mask")],
            "guardrails[0].litellm_params.mode: prompt_length supports block, not mask",
        ),
        (
            [entry("image_check", default_on=True, mode="pre_call")],
            "image_check does not run at pre_call",
        ),
        ([entry("pii", default_on=True, mode="sometimes")], "must be block or mask"),
        ([entry("moderation", default_on=True)], "api_base: Field required"),
        ([entry("python:no_such_module:X", default_on=True)], "cannot import no_such_module"),
        (
            [entry("python:tests.guardrail_examples:CONTEXT", default_on=True)],
            "is not a PromptGuardrail or ImageGuardrail subclass",
        ),
        ([entry("pii")], "'g1' would never run"),
        (
            [
                entry(
                    "python:tests.guardrail_examples:NoShouting",
                    default_on=True,
                    max_upper_ratio="lots",
                )
            ],
            "NoShouting rejected its options (ValidationError: 1 validation error",
        ),
        ([entry("pii", default_on=True), entry("pii", default_on=True)], "defined more than once"),
    ],
)
def test_config_errors_name_the_entry_and_key(
    guardrails: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_with(guardrails)
    assert str(caught.value).startswith("g.yaml: ")
    assert message in str(caught.value)


def test_model_info_guardrails_must_name_configured_guardrails() -> None:
    with pytest.raises(ConfigError, match=r"model_list\[0\]\.model_info\.guardrails: no guardrail"):
        settings_with([entry("pii", default_on=True)], {"guardrails": ["other"]})
    with pytest.raises(ConfigError, match="must be a list of guardrail names"):
        settings_with([entry("pii", default_on=True)], {"guardrails": "g1"})


def test_litellm_style_entry_loads_with_env_references(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOD_KEY", "sk-mod")
    settings = settings_with(
        [
            {
                "guardrail_name": "mod",
                "litellm_params": {
                    "guardrail": "openai_moderation",
                    "mode": "pre_call",
                    "api_base": "http://127.0.0.1:9",
                    "api_key": "os.environ/MOD_KEY",
                },
                "guardrail_info": {"owner": "trust-and-safety"},
            }
        ],
        {"guardrails": ["mod"]},
    )
    (spec,) = settings.guardrails.specs
    assert (spec.name, spec.config.mode, spec.default_on) == ("mod", "block", False)
    assert spec.config.options["api_key"] == "sk-mod"
    assert settings.guardrails.by_model == {"placeholder": ("mod",)}
