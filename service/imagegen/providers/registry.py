"""Which adapter serves which provider name, and how model strings name them."""

from __future__ import annotations

import os
from collections.abc import Mapping

from imagegen.errors import ModelNotFoundError
from imagegen.providers.azure import AzureProvider
from imagegen.providers.base import Endpoint, Provider
from imagegen.providers.bedrock import BedrockProvider
from imagegen.providers.bfl import BlackForestLabsProvider
from imagegen.providers.fal import FalProvider
from imagegen.providers.gemini import GeminiProvider
from imagegen.providers.local import PLACEHOLDER_MODEL, LocalProvider
from imagegen.providers.openai import OpenAIProvider
from imagegen.providers.openai_models import OPENAI_MODELS
from imagegen.providers.openrouter import OpenRouterProvider
from imagegen.providers.recraft import RecraftProvider
from imagegen.providers.replicate import ReplicateProvider
from imagegen.providers.together import TogetherProvider
from imagegen.providers.vertex import VertexProvider
from imagegen.providers.xai import XaiProvider
from imagegen.providers.xinference import XinferenceProvider

_ADAPTERS: tuple[Provider, ...] = (
    OpenAIProvider(),
    AzureProvider(),
    XinferenceProvider(),
    RecraftProvider(),
    GeminiProvider(),
    VertexProvider(),
    BedrockProvider(),
    LocalProvider(),
    BlackForestLabsProvider(),
    FalProvider(),
    ReplicateProvider(),
    XaiProvider(),
    TogetherProvider(),
    OpenRouterProvider(),
)
PROVIDERS: Mapping[str, Provider] = {provider.name: provider for provider in _ADAPTERS}
# Bare model names that unambiguously belong to one provider, as LiteLLM resolves them.
_BARE_MODELS = {**{model: "openai" for model in OPENAI_MODELS}, PLACEHOLDER_MODEL: "local"}


def get_provider(name: str) -> Provider:
    """The adapter called `name`."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise ModelNotFoundError(
            f"unknown provider {name!r}; known: {', '.join(sorted(PROVIDERS))}",
            metadata={"provider": name[:64]},
        ) from None


def split_model(model: str) -> tuple[str, str] | None:
    """("openai", "gpt-image-1") for "openai/gpt-image-1"; None when no provider is named."""
    provider, sep, rest = model.partition("/")
    if sep and provider in PROVIDERS and rest:
        return provider, rest
    if model in _BARE_MODELS:
        return _BARE_MODELS[model], model
    return None


def endpoint_from_env(provider: Provider, endpoint: Endpoint) -> Endpoint:
    """Fill what `endpoint` leaves empty from the provider's environment variables."""

    def first(names: tuple[str, ...]) -> str | None:
        return next((os.environ[n] for n in names if os.environ.get(n)), None)

    return Endpoint(
        api_base=endpoint.api_base or first(provider.env_api_base),
        api_key=endpoint.api_key or first(provider.env_api_key),
        api_version=endpoint.api_version or first(provider.env_api_version),
        options=endpoint.options,
        caller_credentials=endpoint.caller_credentials,
    )
