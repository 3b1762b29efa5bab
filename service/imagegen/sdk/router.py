"""`imagegen.Router`: the router for SDK users, without a server (LiteLLM's `Router`).

    router = Router(
        model_list=[{"model_name": "img", "litellm_params": {"model": "openai/gpt-image-1"}}],
        num_retries=2,
        fallbacks=[{"img": ["placeholder-img"]}],
    )
    response = router.image_generation("a sea otter", model="img")

`model_list` has the config file's shape and the keyword arguments are `router_settings`
keys; both are validated exactly as the server validates its config, and the calls go
through the same Gateway and RequestRouter the server uses.
"""

from __future__ import annotations

import asyncio
from typing import Any
from weakref import WeakKeyDictionary

from imagegen.config import Settings, settings_from_mapping
from imagegen.gateway import Gateway
from imagegen.openai_compat import DEFAULT_TIMEOUT, build_request, image_response_from
from imagegen.router.router import RequestRouter
from imagegen.router.state_memory import MemoryStore
from imagegen.sdk._loop import sync_loop
from imagegen.types import ImageResponse


class Router:
    """Load balancing, retries, cooldowns and fallbacks over `model_list`, in-process."""

    def __init__(self, model_list: list[dict[str, Any]], **router_settings: Any) -> None:
        self.settings: Settings = settings_from_mapping(
            {"model_list": model_list, "router_settings": router_settings}, source="Router(...)"
        )
        # One store for every event loop that uses this Router, so that its cooldowns and
        # counters are one view (Redis, when configured, is shared anyway).
        self._store = None if self.settings.router.redis_url else MemoryStore()
        self._gateways: WeakKeyDictionary[asyncio.AbstractEventLoop, Gateway] = WeakKeyDictionary()

    def _gateway(self) -> Gateway:
        loop = asyncio.get_running_loop()
        gateway = self._gateways.get(loop)
        if gateway is None:
            router = RequestRouter(self.settings.router, store=self._store)
            gateway = self._gateways[loop] = Gateway(self.settings, router=router)
        return gateway

    async def aclose(self) -> None:
        """Close the connection pools of the calling event loop."""
        gateway = self._gateways.pop(asyncio.get_running_loop(), None)
        if gateway is not None:
            await gateway.aclose()

    async def aimage_generation(
        self,
        prompt: str,
        model: str | None = None,
        n: int | None = None,
        quality: str | None = None,
        response_format: str | None = None,
        size: str | None = None,
        style: str | None = None,
        user: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        api_key: str | None = None,
        api_base: str | None = None,
        api_version: str | None = None,
        custom_llm_provider: str | None = None,
        **kwargs: Any,
    ) -> ImageResponse:
        """Generate images from `model`'s group (fallbacks=[...] / disable_fallbacks=True
        per call). Raises imagegen.errors.ImageGenError subclasses."""
        request = build_request(
            prompt,
            model=model,
            n=n,
            quality=quality,
            response_format=response_format,
            size=size,
            style=style,
            user=user,
            timeout=timeout,
            api_key=api_key,
            api_base=api_base,
            api_version=api_version,
            custom_llm_provider=custom_llm_provider,
            kwargs=kwargs,
        )
        generation = await self._gateway().generate(request)
        return image_response_from(generation)

    def image_generation(
        self,
        prompt: str,
        model: str | None = None,
        n: int | None = None,
        quality: str | None = None,
        response_format: str | None = None,
        size: str | None = None,
        style: str | None = None,
        user: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        api_key: str | None = None,
        api_base: str | None = None,
        api_version: str | None = None,
        custom_llm_provider: str | None = None,
        **kwargs: Any,
    ) -> ImageResponse:
        """Generate images (blocking). Same arguments as `aimage_generation`."""
        return sync_loop.run(
            self.aimage_generation(
                prompt,
                model=model,
                n=n,
                quality=quality,
                response_format=response_format,
                size=size,
                style=style,
                user=user,
                timeout=timeout,
                api_key=api_key,
                api_base=api_base,
                api_version=api_version,
                custom_llm_provider=custom_llm_provider,
                **kwargs,
            )
        )
