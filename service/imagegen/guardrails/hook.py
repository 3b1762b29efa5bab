"""Running the guardrails on every request: prompts and an edit's input images before the
call, generated images after it.

Which guardrails a request gets: every `default_on` one, plus those its model group
lists in `model_info.guardrails`, in the order of the `guardrails:` section. Prompt
guardrails run one after the other, each on the prompt the previous one let through
(possibly masked); the first block refuses the request before any provider is called.
Image guardrails look at each image once: as it becomes ready (so a stream never sends
an image that would be withheld) or, for images not seen that way, in `after_call`.
On an edit, image guardrails that check inputs also look at each input image after the
prompt guardrails; one they refuse refuses the request, naming `images[i]`.

Every outcome becomes a `Decision(kind="guardrail", ...)` on the request state, which
telemetry reports; details never hold prompt text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from imagegen.errors import FieldViolation, GuardrailBlockedError, GuardrailUnavailableError
from imagegen.events import Decision, RequestState
from imagegen.guardrails.base import (
    Guardrail,
    GuardrailContext,
    GuardrailUnavailable,
    ImageGuardrail,
    ImageVerdict,
    OnError,
    PromptGuardrail,
    PromptVerdict,
)
from imagegen.guardrails.settings import GuardrailSettings, GuardrailSpec
from imagegen.hooks import RequestHook
from imagegen.types import GeneratedImage, ProviderResult

log = logging.getLogger(__name__)

KIND = "guardrail"


@dataclass(slots=True)
class _Bound:
    """A built guardrail with its entry's policy."""

    guardrail: Guardrail
    on_error: OnError

    @property
    def name(self) -> str:
        return self.guardrail.name


@dataclass(slots=True)
class _PerRequest:
    """One request's guardrails and the verdicts on its images (by image identity)."""

    images: tuple[_Bound, ...]
    verdicts: dict[int, tuple[GeneratedImage, str | None, str]] = field(default_factory=dict)
    """id(image) → (image, name of the guardrail that withheld it or None, reason)."""


class GuardrailHook(RequestHook):
    """The request hook that enforces the configured guardrails."""

    name = "guardrails"

    def __init__(self, settings: GuardrailSettings, default_model: str | None = None) -> None:
        self._default_model = default_model or ""
        self._bound: dict[str, _Bound] = {spec.name: _bind(spec) for spec in settings.specs}
        order = [spec.name for spec in settings.specs]
        always = [spec.name for spec in settings.specs if spec.default_on]
        self._global = self._split(always)
        # Precomputed per model group: the request path does a dict lookup, nothing more.
        self._per_model: dict[str, tuple[tuple[_Bound, ...], tuple[_Bound, ...]]] = {}
        for model, listed in settings.by_model.items():
            names = [name for name in order if name in always or name in listed]
            self._per_model[model] = self._split(names)

    def _split(self, names: list[str]) -> tuple[tuple[_Bound, ...], tuple[_Bound, ...]]:
        """The named guardrails as (prompt guardrails, image guardrails), in order."""
        bound = [self._bound[name] for name in names]
        prompts = tuple(b for b in bound if isinstance(b.guardrail, PromptGuardrail))
        images = tuple(b for b in bound if isinstance(b.guardrail, ImageGuardrail))
        return prompts, images

    async def start(self) -> None:
        for bound in self._bound.values():
            await bound.guardrail.start()

    async def aclose(self) -> None:
        for bound in self._bound.values():
            try:
                await bound.guardrail.aclose()
            except Exception:
                log.exception("guardrail %s failed to close", bound.name)

    # ------------------------------------------------------------------ prompts

    async def on_request(self, state: RequestState) -> None:
        model = state.request.model or self._default_model
        prompts, images = self._per_model.get(model, self._global)
        if images:
            state.extensions[self.name] = _PerRequest(images)
        context = GuardrailContext(
            guardrail="",
            model=model,
            n=state.request.n or 1,
            size=state.request.size,
        )
        for bound in prompts:
            guardrail = bound.guardrail
            assert isinstance(guardrail, PromptGuardrail)
            verdict = await self._prompt_verdict(
                state, bound, guardrail, replace(context, guardrail=bound.name)
            )
            if verdict is None:  # could not decide, on_error: allow
                continue
            if verdict.action == "allow":
                _decide(state, bound.name, "allow")
            elif verdict.action == "mask" and verdict.prompt:
                _decide(state, bound.name, "mask", verdict.reason)
                state.request = state.request.model_copy(update={"prompt": verdict.prompt})
            else:
                _decide(state, bound.name, "block", verdict.reason)
                raise GuardrailBlockedError(
                    f"the prompt was blocked by guardrail {bound.name!r}",
                    metadata={"guardrail": bound.name},
                )
        if images and state.request.edit is not None:
            # After the prompt: a refused prompt costs no image check.
            await self._check_inputs(state, images, context)

    async def _prompt_verdict(
        self,
        state: RequestState,
        bound: _Bound,
        guardrail: PromptGuardrail,
        context: GuardrailContext,
    ) -> PromptVerdict | None:
        try:
            return await guardrail.check_prompt(state.request.prompt, context)
        except Exception as exc:
            detail = _failure(bound, exc)
            if bound.on_error is OnError.ALLOW:
                _decide(state, bound.name, "allow", f"{detail}; on_error allow")
                return None
            _decide(state, bound.name, "block", f"{detail}; fails closed")
            raise GuardrailUnavailableError(
                f"guardrail {bound.name!r} could not check the prompt; it fails closed",
                metadata={"guardrail": bound.name},
            ) from None

    # ------------------------------------------------------------------ input images

    async def _check_inputs(
        self, state: RequestState, bound_images: tuple[_Bound, ...], context: GuardrailContext
    ) -> None:
        """Each of an edit's input images through the image guardrails that check inputs;
        the first refusal refuses the request, naming the image, before any provider call."""
        edit = state.request.edit
        assert edit is not None
        checking = [b for b in bound_images if _checks_inputs(b)]
        for given in edit.inputs.images if checking else ():
            image = GeneratedImage(
                data=given.data,
                mime_type=given.format.mime_type,
                width=given.width,
                height=given.height,
            )
            for bound in checking:
                guardrail = bound.guardrail
                assert isinstance(guardrail, ImageGuardrail)
                asked = replace(context, guardrail=bound.name, input_field=given.field)
                try:
                    verdict = await guardrail.check_image(image, asked)
                except Exception as exc:
                    detail = f"{given.field}: {_failure(bound, exc)}"
                    if bound.on_error is OnError.ALLOW:
                        _decide(state, bound.name, "allow", f"{detail}; on_error allow")
                        continue
                    _decide(state, bound.name, "block", f"{detail}; fails closed")
                    raise GuardrailUnavailableError(
                        f"guardrail {bound.name!r} could not check {given.field}; it fails closed",
                        metadata={"guardrail": bound.name, "field": given.field},
                    ) from None
                if verdict.action == "allow":
                    _decide(state, bound.name, "allow", given.field)
                    continue
                _decide(state, bound.name, "block", f"{given.field}: {verdict.reason}")
                description = (
                    f"input image {given.field} was refused by guardrail {bound.name!r}: "
                    f"{verdict.reason}"
                )
                raise GuardrailBlockedError(
                    description,
                    field_violations=[FieldViolation(given.field, description)],
                    metadata={"guardrail": bound.name, "field": given.field},
                )

    # ------------------------------------------------------------------ images

    async def check_image(self, state: RequestState, image: GeneratedImage) -> bool:
        per_request = state.extensions.get(self.name)
        if not isinstance(per_request, _PerRequest):
            return True
        withheld_by, _ = await self._image_verdict(state, per_request, image)
        return withheld_by is None

    async def after_call(self, state: RequestState, result: ProviderResult) -> ProviderResult:
        per_request = state.extensions.get(self.name)
        if not isinstance(per_request, _PerRequest):
            return result
        kept: list[GeneratedImage] = []
        first_withheld: str | None = None
        for image in result.images:
            withheld_by, reason = await self._image_verdict(state, per_request, image)
            if withheld_by is None:
                kept.append(image)
                continue
            first_withheld = first_withheld or withheld_by
            # Told to the caller (trailer / header), as the reason for filtered_count.
            state.withheld.append(f"{withheld_by}: {reason}")
        if first_withheld is None:
            return result
        if not kept:
            raise GuardrailBlockedError(
                f"every generated image was withheld by guardrail {first_withheld!r}",
                metadata={"guardrail": first_withheld, "withheld": str(len(result.images))},
            )
        withheld = len(result.images) - len(kept)
        return replace(result, images=kept, filtered=result.filtered + withheld)

    async def _image_verdict(
        self, state: RequestState, per_request: _PerRequest, image: GeneratedImage
    ) -> tuple[str | None, str]:
        seen = per_request.verdicts.get(id(image))
        if seen is not None and seen[0] is image:
            return seen[1], seen[2]
        number = len(per_request.verdicts) + 1
        request = state.request
        size = (state.target.size_actual if state.target else None) or request.size
        outcome: tuple[str | None, str] = (None, "")
        for bound in per_request.images:
            guardrail = bound.guardrail
            assert isinstance(guardrail, ImageGuardrail)
            context = GuardrailContext(
                guardrail=bound.name,
                model=request.model or self._default_model,
                n=request.n or 1,
                size=size,
            )
            try:
                verdict = await guardrail.check_image(image, context)
            except Exception as exc:
                detail = _failure(bound, exc)
                if bound.on_error is OnError.ALLOW:
                    _decide(state, bound.name, "allow", f"image {number}: {detail}; on_error allow")
                    continue
                verdict = ImageVerdict.withhold(f"{detail}; fails closed")
            if verdict.action == "allow":
                _decide(state, bound.name, "allow", f"image {number}")
                continue
            _decide(state, bound.name, "withhold", f"image {number}: {verdict.reason}")
            outcome = (bound.name, verdict.reason)
            break
        per_request.verdicts[id(image)] = (image, *outcome)
        return outcome


def _bind(spec: GuardrailSpec) -> _Bound:
    return _Bound(spec.build(), spec.on_error)


def _checks_inputs(bound: _Bound) -> bool:
    guardrail = bound.guardrail
    return isinstance(guardrail, ImageGuardrail) and guardrail.checks_inputs


def _decide(state: RequestState, name: str, action: str, detail: str = "") -> None:
    state.decisions.append(Decision(kind=KIND, name=name, action=action, detail=detail))


def _failure(bound: _Bound, exc: Exception) -> str:
    # The message of a GuardrailUnavailable is written to be logged; anything else may hold
    # the prompt (a custom guardrail's bug), so only its type is.
    if isinstance(exc, GuardrailUnavailable):
        detail = f"unavailable: {exc}"
        log.warning("guardrail %s could not decide: %s", bound.name, exc)
    else:
        detail = f"failed ({type(exc).__name__})"
        log.warning("guardrail %s raised %s", bound.name, type(exc).__name__)
    return detail
