"""The image cache (LiteLLM's `litellm_settings.cache` keys): hits cost nothing, and
identical requests in flight make one provider call."""

from imagegen.cache.cache import ImageCache
from imagegen.cache.settings import CacheParams, CacheSettings, build_cache_settings

__all__ = ["CacheParams", "CacheSettings", "ImageCache", "build_cache_settings"]
