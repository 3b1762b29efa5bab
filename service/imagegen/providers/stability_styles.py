"""Stability AI's style presets: one list for its own API and for its models on Bedrock,
which take the same `style_preset` values (https://platform.stability.ai/docs/api-reference)."""

from __future__ import annotations

STYLE_PRESETS = (
    "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance",
    "fantasy-art", "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk",
    "origami", "photographic", "pixel-art", "tile-texture",
)  # fmt: skip
