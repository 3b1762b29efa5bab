"""The `telemetry_settings:` config section.

telemetry_settings:
  service_name: imagegen         # OTel resource service.name (else OTEL_SERVICE_NAME)
  log_requests: true             # the one line per request on logger imagegen.requests
  log_format: json               # json | text (key=value)
  log_prompts: false             # prompt text in the log line and callback payloads
  prometheus_port: 9464          # a /metrics scrape endpoint; null (default) = off
  otlp_endpoint: null            # else OTEL_EXPORTER_OTLP_ENDPOINT; set = OTLP/HTTP export
  callbacks:
    - type: stdout
    - type: file
      path: /var/log/imagegen/requests.jsonl
    - type: webhook
      url: https://logs.example.com/ingest
      headers: {Authorization: os.environ/LOG_WEBHOOK_TOKEN}
    - type: python
      class: mypkg.sinks:MySink
      options: {table: image_calls}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imagegen.telemetry.callbacks import load_callback_class

DEFAULT_SERVICE_NAME = "imagegen"
DEFAULT_QUEUE_SIZE = 10_000


class CallbackSettings(BaseModel):
    """One configured logging callback (a `type` of its own below)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    type: str
    """stdout, file, webhook or python (each subclass fixes its own)."""
    queue_size: int = Field(default=DEFAULT_QUEUE_SIZE, ge=1, le=1_000_000)
    """Payloads waiting for this callback; beyond it new ones are dropped (and counted)."""

    def init_options(self) -> dict[str, Any]:
        """The type's own options (path, url, headers, class...), as its callback takes them."""
        return self.model_dump(by_alias=True, exclude={"type", "queue_size"})


class _Stdout(CallbackSettings):
    type: Literal["stdout"]


class _File(CallbackSettings):
    type: Literal["file"]
    path: str = Field(min_length=1)
    """The JSON-lines file."""
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    """Rotate the file at this size."""
    backup_count: int = Field(default=5, ge=0, le=1000)
    """Rotated files to keep."""


class _Webhook(CallbackSettings):
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    """Where JSON arrays of payloads are POSTed."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Headers sent with each POST (os.environ/ references work)."""
    batch_size: int = Field(default=50, ge=1, le=10_000)
    """Payloads per POST at most."""
    flush_interval_seconds: float = Field(default=2.0, gt=0)
    """How long a payload waits for others to share its POST."""
    max_retries: int = Field(default=3, ge=0, le=20)
    """Retries of a POST that failed with 5xx, 408, 429 or a connection error."""
    retry_backoff_seconds: float = Field(default=0.5, ge=0)
    """The first retry's wait; doubled each retry."""
    timeout_seconds: float = Field(default=10.0, gt=0)
    """How long one POST may take."""


class _Python(CallbackSettings):
    type: Literal["python"]
    class_: str = Field(alias="class", pattern=r"^[\w.]+:[\w.]+$")
    """The callback class, "package.module:Class" (a subclass of
    imagegen.telemetry.callbacks.Callback)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for the class's constructor."""

    @field_validator("class_")
    @classmethod
    def _importable(cls, value: str) -> str:
        # At load time, so that a typo fails the start with the key named, not the first request.
        load_callback_class(value)
        return value


_AnyCallback = Annotated[_Stdout | _File | _Webhook | _Python, Field(discriminator="type")]


class TelemetrySettings(BaseModel):
    """`telemetry_settings`: traces, metrics, the request log line and logging callbacks."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    service_name: str | None = Field(default=None, min_length=1)
    """The OTel service.name (None: OTEL_SERVICE_NAME, else "imagegen")."""
    log_requests: bool = True
    """Emit one structured line per request on the `imagegen.requests` logger."""
    log_format: Literal["json", "text"] = "json"
    """"json" (one JSON object) or "text" (key=value pairs)."""
    log_prompts: bool = False
    """Include the prompt text in the log line and callback payloads."""
    prometheus_host: str = "0.0.0.0"
    """The listen address of the /metrics endpoint."""
    prometheus_port: int | None = Field(default=None, ge=0, le=65535)
    """Serve /metrics for Prometheus on this port (0: a free one); None: no endpoint."""
    otlp_endpoint: str | None = Field(default=None, pattern=r"^https?://")
    """OTLP/HTTP base URL; overrides OTEL_EXPORTER_OTLP_ENDPOINT."""
    callbacks: tuple[_AnyCallback, ...] = ()
    """Where each request's payload is also sent: stdout, a file, a webhook or a Python class."""
