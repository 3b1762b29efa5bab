"""The `guardrails:` config section, and which model groups use which guardrails.

    guardrails:
      - guardrail_name: no-weapons
        litellm_params:               # `params:` works too
          guardrail: blocklist        # or pii, prompt_length, moderation, image_check,
                                      # or "python:my_pkg.checks:MyGuardrail"
          mode: block                 # block | mask (prompts); LiteLLM's pre_call/post_call
          default_on: true            # every request; else only model groups that list it
          on_error: block             # when it cannot decide: block (default) | allow
          keywords: [rifle]           # the kind's own options
    model_list:
      - model_name: kids-art
        model_info:
          guardrails: [no-weapons]    # per model group, on top of the default_on ones

Every entry is built once here, so a bad option fails at start with the entry's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from imagegen.errors import ConfigError
from imagegen.guardrails.base import (
    Guardrail,
    GuardrailConfig,
    GuardrailOptionError,
    ImageGuardrail,
    Mode,
    OnError,
    PromptGuardrail,
)
from imagegen.guardrails.registry import guardrail_class

# The default action of a kind when the entry names none (or only LiteLLM's stage word).
_MASKING_BY_DEFAULT = frozenset({"pii"})
_STAGES = {"pre_call": PromptGuardrail, "post_call": ImageGuardrail}


class GuardrailParams(BaseModel):
    """An entry's `litellm_params` (or `params`): the kind, its action and its own options."""

    model_config = ConfigDict(extra="allow", frozen=True, use_attribute_docstrings=True)

    guardrail: str = Field(min_length=1)
    """The kind: a built-in name or "python:module:Class"."""
    mode: str | None = None
    """block | mask, or LiteLLM's stage word pre_call / post_call (the kind's default action)."""
    default_on: bool = False
    """Every request; else only the model groups that list it."""
    on_error: OnError = OnError.BLOCK
    """When the guardrail cannot decide: block, or allow."""


class GuardrailEntry(BaseModel):
    """One item of the top-level `guardrails:` list."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    guardrail_name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:/@+=\-]+$")
    """The guardrail's name, as model_info.guardrails lists it and as errors and telemetry report
    it."""
    litellm_params: GuardrailParams | None = None
    """What to run and how; the kind's own options go here too."""
    params: GuardrailParams | None = None
    """imagegen's shorter name for litellm_params (one of the two)."""
    guardrail_info: dict[str, Any] | None = None
    """LiteLLM's free-form description; accepted and ignored."""

    @property
    def given(self) -> GuardrailParams:
        """The entry's params, whichever key holds them (checked at load)."""
        params = self.litellm_params or self.params
        assert params is not None  # build_guardrail_settings refuses an entry without
        return params


class GuardrailSpec(BaseModel):
    """A checked entry, used as written, with what its kind name and mode resolve to."""

    model_config = ConfigDict(frozen=True)

    entry: GuardrailEntry
    cls: type[Guardrail]
    """The guardrail class the entry's `guardrail` names."""
    mode: Mode
    """The entry's mode, or its kind's default when it names none (or only a stage)."""

    @property
    def name(self) -> str:
        return self.entry.guardrail_name

    @property
    def kind(self) -> str:
        return self.entry.given.guardrail

    @property
    def default_on(self) -> bool:
        return self.entry.given.default_on

    @property
    def on_error(self) -> OnError:
        return self.entry.given.on_error

    @property
    def config(self) -> GuardrailConfig:
        """What the guardrail's constructor receives."""
        options = dict(self.entry.given.model_extra or {})
        return GuardrailConfig(name=self.name, mode=self.mode, options=options)

    def build(self) -> Guardrail:
        return self.cls(self.config)


class GuardrailSettings(BaseModel):
    """Every configured guardrail in config order, and the model groups' own lists."""

    model_config = ConfigDict(frozen=True)

    specs: tuple[GuardrailSpec, ...] = ()
    by_model: Mapping[str, tuple[str, ...]] = Field(default_factory=dict)
    """model_info.guardrails: model group → the guardrails it adds to the default_on ones."""

    @property
    def active(self) -> bool:
        return bool(self.specs)


def build_guardrail_settings(
    entries: list[GuardrailEntry],
    model_guardrails: Iterable[tuple[str, object]],
    source: str,
) -> GuardrailSettings:
    """Validate the entries and the `model_info.guardrails` lists (model name, raw value)."""
    specs: list[GuardrailSpec] = []
    for index, entry in enumerate(entries):
        specs.append(_spec(entry, f"{source}: guardrails[{index}]"))
    names = [spec.name for spec in specs]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{source}: guardrails: {name!r} is defined more than once")
    by_model: dict[str, tuple[str, ...]] = {}
    for index, (model_name, raw) in enumerate(model_guardrails):
        if raw is None:
            continue
        where = f"{source}: model_list[{index}].model_info.guardrails"
        listed = _name_list(raw, where)
        unknown = [name for name in listed if name not in names]
        if unknown:
            raise ConfigError(f"{where}: no guardrail named {unknown[0]!r} in guardrails")
        if model_name in by_model and by_model[model_name] != listed:
            raise ConfigError(
                f"{where}: deployments of model group {model_name!r} list different guardrails"
            )
        by_model[model_name] = listed
    used = {name for listed in by_model.values() for name in listed}
    for spec in specs:
        if not spec.default_on and spec.name not in used:
            raise ConfigError(
                f"{source}: guardrails: {spec.name!r} would never run: set default_on: true "
                "or list it in a model's model_info.guardrails"
            )
    return GuardrailSettings(specs=tuple(specs), by_model=by_model)


def _name_list(raw: object, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ConfigError(f"{where}: must be a list of guardrail names")
    return tuple(dict.fromkeys(raw))


def _spec(entry: GuardrailEntry, where: str) -> GuardrailSpec:
    if entry.litellm_params is not None and entry.params is not None:
        raise ConfigError(f"{where}: give litellm_params or params, not both")
    params = entry.litellm_params or entry.params
    if params is None:
        raise ConfigError(f"{where}: litellm_params (or params) with a guardrail is required")
    where = f"{where}.{'litellm_params' if entry.litellm_params else 'params'}"
    try:
        cls = guardrail_class(params.guardrail)
    except GuardrailOptionError as exc:
        raise ConfigError(f"{where}.{exc}") from None
    mode = _mode(params, cls, where)
    spec = GuardrailSpec(entry=entry, cls=cls, mode=mode)
    try:
        spec.build()  # validates the options now, not at the first request
    except GuardrailOptionError as exc:
        raise ConfigError(f"{where}.{exc}") from None
    except Exception as exc:  # a custom class validating its own way
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(
            f"{where}: {params.guardrail} rejected its options ({type(exc).__name__}: "
            f"{first_line[:200]})"
        ) from None
    return spec


def _mode(params: GuardrailParams, cls: type[Guardrail], where: str) -> Mode:
    default = Mode.MASK if params.guardrail in _MASKING_BY_DEFAULT else Mode.BLOCK
    if params.mode is None:
        return default
    stage = _STAGES.get(params.mode)
    if stage is not None:
        if not issubclass(cls, stage):
            raise ConfigError(
                f"{where}.mode: {params.guardrail} does not run at {params.mode} "
                "(prompt guardrails run pre_call, image guardrails post_call)"
            )
        return default
    try:
        mode = Mode(params.mode)
    except ValueError:
        raise ConfigError(
            f"{where}.mode: {params.mode!r} must be block or mask (or pre_call / post_call)"
        ) from None
    if mode not in cls.modes:
        supported = " or ".join(sorted(m.value for m in cls.modes))
        raise ConfigError(f"{where}.mode: {params.guardrail} supports {supported}, not {mode}")
    return mode
