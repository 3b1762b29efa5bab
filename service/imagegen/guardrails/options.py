"""Validating a guardrail's options with a pydantic model, reported as `key: problem`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from imagegen.guardrails.base import GuardrailOptionError

OptionsT = TypeVar("OptionsT", bound=BaseModel)


def parse_options(model: type[OptionsT], options: Mapping[str, Any]) -> OptionsT:
    """`options` validated by `model`; GuardrailOptionError names the first bad key."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "options"
        raise GuardrailOptionError(f"{where}: {first['msg']}") from None
