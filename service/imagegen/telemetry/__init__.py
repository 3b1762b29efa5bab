"""Telemetry: OpenTelemetry traces and metrics, the structured request log line, and
logging callbacks. `hook.TelemetryHook` plugs it into the gateway; `setup.Telemetry`
owns the providers and exporters; `names` holds every name emitted."""
