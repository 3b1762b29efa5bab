"""deploy/kubernetes: valid against the Kubernetes schemas (shipped by kubernetes-validate,
offline), and consistent with the gateway's own config and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

from imagegen.config import parse_settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"
KUBERNETES = "1.33.0"  # the preStop sleep action is stable from 1.30


def documents() -> list[dict[str, Any]]:
    found = [
        doc
        for path in sorted(DEPLOY.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
    ]
    return [doc for doc in found if doc]


def kind(name: str) -> dict[str, Any]:
    (found,) = [doc for doc in documents() if doc["kind"] == name]
    return found


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_each_manifest_is_valid_in_strict_mode(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_an_invalid_manifest_is_refused() -> None:
    broken = kind("Deployment")
    broken = {**broken, "spec": {**broken["spec"], "replicas": "three"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_the_deployment_matches_the_gateways_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "IMAGEGEN_DATABASE_URL", "IMAGEGEN_REDIS_URL"):
        monkeypatch.setenv(name, "redis://redis:6379/0" if "REDIS" in name else "x" * 20)
    monkeypatch.setenv("IMAGEGEN_MASTER_KEY", "m" * 32)
    settings = parse_settings(kind("ConfigMap")["data"]["config.yaml"], source="configmap")
    pod = kind("Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    server = settings.server
    # SIGKILL must not cut the drain or the in-flight calls' grace.
    assert pod["terminationGracePeriodSeconds"] > server.drain_seconds + server.grace_period_seconds
    # Readiness comes from the gRPC health service on the served port.
    port = int(container["args"][container["args"].index("--port") + 1])
    assert container["readinessProbe"]["grpc"]["port"] == port
    assert server.drain_seconds > container["readinessProbe"]["periodSeconds"]
    assert settings.access.quota_redis_url and settings.access.database_url
    service = kind("Service")
    assert {p["targetPort"] for p in service["spec"]["ports"]} == {
        p["name"] for p in container["ports"]
    }
