"""The gateway's OpenTelemetry instruments, created once per Telemetry.

Durations are in seconds (the OTel convention; Prometheus shows them as
`*_seconds`). Labels are low-cardinality: model group, provider, deployment, status
(the gRPC code name), door; never a request id or a key.
"""

from __future__ import annotations

from decimal import Decimal

from opentelemetry.metrics import Meter

from imagegen.telemetry import names as n

# Request latencies of image generation run from a fraction of a second to minutes.
_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
_TOKEN_BUCKETS = (16, 64, 256, 1024, 4096, 16384, 65536, 262144)


class Metrics:
    """Every instrument the hook records into."""

    def __init__(self, meter: Meter) -> None:
        self.requests = meter.create_counter(
            n.METRIC_REQUESTS, unit="{request}", description="Finished requests by status."
        )
        self.duration = meter.create_histogram(
            n.METRIC_REQUEST_DURATION,
            unit="s",
            description="Request latency, gateway entry to the last byte handed back.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.images = meter.create_counter(
            n.METRIC_IMAGES, unit="{image}", description="Images returned to callers."
        )
        self.cost = meter.create_counter(
            n.METRIC_COST, unit="USD", description="Known cost of finished requests."
        )
        self.cost_unknown = meter.create_counter(
            n.METRIC_COST_UNKNOWN,
            unit="{request}",
            description="Requests whose cost is unknown (the provider may have billed).",
        )
        self.in_flight = meter.create_up_down_counter(
            n.METRIC_IN_FLIGHT, unit="{request}", description="Requests being served."
        )
        self.attempt_duration = meter.create_histogram(
            n.METRIC_ATTEMPT_DURATION,
            unit="s",
            description="Duration of each provider call (retries and fallbacks included).",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.gen_ai_duration = meter.create_histogram(
            n.METRIC_GEN_AI_DURATION,
            unit="s",
            description="GenAI semantic-convention operation duration (per provider call).",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.gen_ai_tokens = meter.create_histogram(
            n.METRIC_GEN_AI_TOKENS,
            unit="{token}",
            description="GenAI semantic-convention token usage (per provider call).",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.guardrail_outcomes = meter.create_counter(
            n.METRIC_GUARDRAIL_OUTCOMES,
            unit="{decision}",
            description="Guardrail outcomes by guardrail and action.",
        )
        self.router_decisions = meter.create_counter(
            n.METRIC_ROUTER_DECISIONS,
            unit="{decision}",
            description="Router decisions (retry, fallback, cooldown...) by step and action.",
        )
        self.quota_decisions = meter.create_counter(
            n.METRIC_QUOTA_DECISIONS,
            unit="{decision}",
            description="Shared quota store unreachable: calls failed open or closed, by step.",
        )
        self.callback_dropped = meter.create_counter(
            n.METRIC_CALLBACK_DROPPED,
            unit="{payload}",
            description="Payloads a logging callback's full queue had to drop.",
        )

        self.cache_lookups = meter.create_counter(
            n.METRIC_CACHE_LOOKUPS,
            unit="{request}",
            description="Cacheable requests by result: hit, coalesced (waited for an identical "
            "request in flight) or miss.",
        )
        self.cache_saved = meter.create_counter(
            n.METRIC_CACHE_SAVED,
            unit="USD",
            description="What the cache hits would have cost from the provider.",
        )
        self.store_writes = meter.create_counter(
            n.METRIC_STORE_WRITES, unit="{image}", description="Images written to the result store."
        )
        self.store_bytes_written = meter.create_counter(
            n.METRIC_STORE_BYTES_WRITTEN,
            unit="By",
            description="Bytes written to the result store.",
        )
        self.store_bytes_served = meter.create_counter(
            n.METRIC_STORE_BYTES_SERVED,
            unit="By",
            description="Bytes of stored images served by the HTTP door's signed URLs.",
        )

    def record_cost(self, cost: Decimal | None, labels: dict[str, str]) -> None:
        if cost is None:
            self.cost_unknown.add(1, labels)
        elif cost:
            self.cost.add(float(cost), labels)
