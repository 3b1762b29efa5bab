"""The in-process SDK: the gateway's core without a server.

`image_generation()` / `aimage_generation()` take LiteLLM's signature with any
"provider/model"; `Router` adds LiteLLM's load balancing, retries and fallbacks over a
`model_list`. Both run the same Gateway the gRPC service uses.
"""

from imagegen.sdk.calls import aimage_generation, image_generation
from imagegen.sdk.router import Router

__all__ = ["Router", "aimage_generation", "image_generation"]
