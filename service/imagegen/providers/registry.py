"""Which adapters exist, found through the `imagegen.providers` entry point group.

Every adapter, imagegen's own included, is declared as an entry point (name = the
provider's name in model strings, value = its class or a factory with no arguments):

    [project.entry-points."imagegen.providers"]
    acme = "acme_imagegen.adapter:AcmeProvider"

so a package installed beside imagegen adds a provider without editing it. Each adapter
declares what is its own — environment variables, endpoint and credential options, the
bare model names it answers to — and this module only gathers them. `Providers` holds
fresh instances: each Gateway owns its adapters (and their token and credential caches).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib.metadata import entry_points

from imagegen.errors import ConfigError, ModelNotFoundError
from imagegen.providers.base import Endpoint, Provider

ENTRY_POINT_GROUP = "imagegen.providers"


def adapter_factories() -> dict[str, Callable[[], Provider]]:
    """Every installed adapter's factory, by provider name."""
    found: dict[str, Callable[[], Provider]] = {}
    origins: dict[str, str] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in found:
            raise ConfigError(
                f"provider {point.name!r} is declared twice ({origins[point.name]} and "
                f"{point.value}); uninstall one"
            )
        found[point.name] = point.load()
        origins[point.name] = point.value
    if not found:
        raise ConfigError(
            f"no provider adapters found in the {ENTRY_POINT_GROUP!r} entry points: "
            "is imagegen installed (pip install -e '.[server]')?"
        )
    return found


class Providers(Mapping[str, Provider]):
    """A set of adapter instances, by provider name."""

    def __init__(self, adapters: Iterable[Provider]) -> None:
        self._adapters: dict[str, Provider] = {}
        bare: dict[str, str] = {}
        for adapter in adapters:
            self._adapters[adapter.name] = adapter
            for model in adapter.bare_models:
                if model in bare:
                    raise ConfigError(
                        f"the bare model name {model!r} is claimed by both {bare[model]!r} "
                        f"and {adapter.name!r}"
                    )
                bare[model] = adapter.name
        # Bare model names that unambiguously belong to one provider, as LiteLLM resolves them.
        self._bare_models = bare
        self.endpoint_options = frozenset(
            option for adapter in self._adapters.values() for option in adapter.endpoint_options
        )
        """Deployment keys that configure an endpoint (not the request body), any adapter's."""
        self.credential_options = frozenset(
            option for adapter in self._adapters.values() for option in adapter.credential_options
        )
        """Endpoint options that are credentials: never sent to a base URL a caller chose."""

    @classmethod
    def discover(cls) -> Providers:
        """Fresh instances of every installed adapter."""
        factories = adapter_factories()
        adapters = []
        for name, factory in factories.items():
            adapter = factory()
            if adapter.name != name:
                raise ConfigError(
                    f"the {ENTRY_POINT_GROUP!r} entry point {name!r} makes an adapter named "
                    f"{adapter.name!r}: the two must match"
                )
            adapters.append(adapter)
        return cls(adapters)

    def __getitem__(self, name: str) -> Provider:
        return self._adapters[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._adapters)

    def __len__(self) -> int:
        return len(self._adapters)

    def adapter(self, name: str) -> Provider:
        """The adapter called `name` (ModelNotFoundError naming the known ones)."""
        try:
            return self._adapters[name]
        except KeyError:
            raise ModelNotFoundError(
                f"unknown provider {name!r}; known: {', '.join(sorted(self._adapters))}",
                metadata={"provider": name[:64]},
            ) from None

    def split_model(self, model: str) -> tuple[str, str] | None:
        """("openai", "gpt-image-1") for "openai/gpt-image-1"; None when no provider is named."""
        provider, sep, rest = model.partition("/")
        if sep and provider in self._adapters and rest:
            return provider, rest
        if model in self._bare_models:
            return self._bare_models[model], model
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
