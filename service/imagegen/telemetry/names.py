"""Every span, attribute, metric and log-field name telemetry emits, in one place.

The GenAI semantic conventions (`gen_ai.*`) are still "Development" status in
OpenTelemetry and their names have moved before; keeping them here means a rename is a
one-line change. Names of our own are under `imagegen.`.
"""

from __future__ import annotations

from typing import Final

# ---------------------------------------------------------------- GenAI semantic conventions

GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
# There is no image-specific operation in the conventions; image generation is
# multimodal content generation (the project's design notes use the same name).
OPERATION_GENERATE: Final = "generate_content"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
# The older name of the provider attribute; backends built before the rename still read it.
GEN_AI_SYSTEM: Final = "gen_ai.system"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
OUTPUT_TYPE_IMAGE: Final = "image"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
ERROR_TYPE: Final = "error.type"
SERVER_ADDRESS: Final = "server.address"

# ---------------------------------------------------------------- imagegen span attributes

ATTR_REQUEST_ID: Final = "imagegen.request_id"
ATTR_DOOR: Final = "imagegen.door"
ATTR_MODEL: Final = "imagegen.model"
"""The model group the caller asked for."""
ATTR_DEPLOYMENT: Final = "imagegen.deployment"
"""The deployment's model id."""
ATTR_ATTEMPT: Final = "imagegen.attempt"
ATTR_OUTCOME: Final = "imagegen.outcome"
ATTR_COST_USD: Final = "imagegen.cost_usd"
"""A decimal string, or "unknown": never a silent 0."""
ATTR_SIZE: Final = "imagegen.size"
ATTR_QUALITY: Final = "imagegen.quality"
ATTR_IMAGE_COUNT: Final = "imagegen.image_count"
"""Images returned (the requested count is gen_ai.request.choice.count)."""
ATTR_STATUS: Final = "imagegen.status"
ATTR_OPERATION: Final = "imagegen.operation"
"""`generate` for text-to-image, or the edit operation (`edit`, `inpaint`, `variation`...)."""
OPERATION_TEXT_TO_IMAGE: Final = "generate"
ATTR_INPUT_IMAGES: Final = "imagegen.input_images"
"""An edit's input images (the mask not counted)."""
ATTR_INPUT_BYTES: Final = "imagegen.input_bytes"
"""An edit's input bytes, images and mask together: sizes only, never content."""
ATTR_KEY_ALIAS: Final = "imagegen.key_alias"

# Span events for guardrail and router decisions: "imagegen.guardrail", "imagegen.router".
EVENT_PREFIX: Final = "imagegen."
EVENT_NAME: Final = "imagegen.decision.name"
EVENT_ACTION: Final = "imagegen.decision.action"
EVENT_DETAIL: Final = "imagegen.decision.detail"

# ---------------------------------------------------------------- metrics

METRIC_REQUESTS: Final = "imagegen.requests"
METRIC_REQUEST_DURATION: Final = "imagegen.request.duration"
METRIC_IMAGES: Final = "imagegen.images"
METRIC_COST: Final = "imagegen.cost"
METRIC_COST_UNKNOWN: Final = "imagegen.cost.unknown"
METRIC_IN_FLIGHT: Final = "imagegen.requests.in_flight"
METRIC_ATTEMPT_DURATION: Final = "imagegen.provider.attempt.duration"
METRIC_GUARDRAIL_OUTCOMES: Final = "imagegen.guardrail.outcomes"
METRIC_ROUTER_DECISIONS: Final = "imagegen.router.decisions"
METRIC_QUOTA_DECISIONS: Final = "imagegen.quota.decisions"
METRIC_CALLBACK_DROPPED: Final = "imagegen.callback.dropped"
METRIC_CACHE_LOOKUPS: Final = "imagegen.cache.lookups"
METRIC_CACHE_SAVED: Final = "imagegen.cache.saved"
METRIC_STORE_WRITES: Final = "imagegen.store.writes"
METRIC_STORE_BYTES_WRITTEN: Final = "imagegen.store.bytes_written"
METRIC_STORE_BYTES_SERVED: Final = "imagegen.store.bytes_served"
METRIC_GEN_AI_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_GEN_AI_TOKENS: Final = "gen_ai.client.token.usage"

# Metric attribute keys (short, Prometheus-label friendly).
LABEL_MODEL: Final = "model"
LABEL_PROVIDER: Final = "provider"
LABEL_STATUS: Final = "status"
LABEL_DOOR: Final = "door"
LABEL_OPERATION: Final = "operation"
LABEL_DEPLOYMENT: Final = "deployment"
LABEL_OUTCOME: Final = "outcome"
LABEL_GUARDRAIL: Final = "guardrail"
LABEL_ACTION: Final = "action"
LABEL_STEP: Final = "step"
LABEL_CALLBACK: Final = "callback"
LABEL_RESULT: Final = "result"
LABEL_BACKEND: Final = "backend"

# ---------------------------------------------------------------- logs

REQUEST_LOGGER: Final = "imagegen.requests"
"""The logger of the one structured line per request."""
INSTRUMENTATION_SCOPE: Final = "imagegen"
