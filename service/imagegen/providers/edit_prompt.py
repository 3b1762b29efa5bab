"""The prompt a caller actually wrote, for providers where a stand-in would change the result.

For operations that need no prompt (erase, variation, remove background, upscale) the gateway
carries the operation's name as the prompt, so that guardrails and logs always read one
(imagegen/edits.py), and marks the payload `prompt_written=False`. A provider that reads any
text it is sent as guidance (Titan variations, Imagen object removal) must not receive that
stand-in as if the caller had written it.
"""

from __future__ import annotations

from imagegen.images.payload import EditPayload


def written_prompt(prompt: str, payload: EditPayload) -> str | None:
    """`prompt`, or None when it is only the gateway's stand-in for a prompt-less operation."""
    return prompt if payload.prompt_written and prompt else None
