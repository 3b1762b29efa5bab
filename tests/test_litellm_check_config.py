"""`imagegen check-config`: a LiteLLM-shaped config checked part by part, without calling any
provider: each model served or not and why, each section key honoured / accepted / refused,
credentials that cannot be resolved, no secret in the output; exit 1 when something cannot
be served. `imagegen serve` runs the same check and does not start on a failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from imagegen.cli import main
from imagegen.config_check import check_config

SECRET = "sk-very-secret-openai-key-000"
CLIENT_SECRET = "entra-client-secret-value-000"
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n"


@pytest.fixture(autouse=True)
def _no_cloud_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The machine's own AWS, Azure and Google settings must not decide a test.
    for name in (
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_CLIENT_SECRET",
        "IDENTITY_ENDPOINT",
        "MSI_ENDPOINT",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ):
        monkeypatch.delenv(name, raising=False)
    aws_config = tmp_path / "aws-config"
    aws_config.write_text("[profile team]\nregion = us-west-2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("HOME", str(tmp_path))


def service_account(email: str = "gen@proj.iam.gserviceaccount.com") -> dict[str, str]:
    return {
        "type": "service_account",
        "project_id": "proj",
        "client_email": email,
        "private_key": PRIVATE_KEY,
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def entry(name: str, **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": params}


def lines_for(output: str, where: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if f" {where}" in line]


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "litellm.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def mixed_config(tmp_path: Path) -> dict[str, Any]:
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(service_account("file@proj.iam.gserviceaccount.com")))
    return {
        "model_list": [
            {
                **entry("dall-e-3", model="openai/dall-e-3", api_key=SECRET),
                "model_info": {"mode": "image_generation", "input_cost_per_pixel": 1e-7},
            },
            entry("too-many-tokens", model="openai/dall-e-2", api_key=SECRET, tpm=100),
            entry(
                "imagen-file",
                model="vertex_ai/imagen-3.0-generate-002",
                vertex_project="proj",
                vertex_location="us-central1",
                vertex_credentials=str(key_file),
            ),
            entry(
                "imagen-inline",
                model="vertex_ai/imagen-3.0-generate-002",
                vertex_project="proj",
                vertex_location="us-central1",
                vertex_credentials=json.dumps(service_account()),
            ),
            entry(
                "imagen-missing",
                model="vertex_ai/imagen-3.0-generate-002",
                vertex_project="proj",
                vertex_location="us-central1",
                vertex_credentials=str(tmp_path / "absent.json"),
            ),
            entry(
                "azure-sp",
                model="azure/dall-e-3",
                api_base="https://example.openai.azure.com",
                api_version="2024-02-01",
                tenant_id="tenant-1",
                client_id="client-1",
                client_secret=CLIENT_SECRET,
            ),
            entry(
                "bedrock-role",
                model="bedrock/stability.sd3-5-large-v1",
                aws_region_name="us-west-2",
                aws_profile_name="team",
                aws_role_name="arn:aws:iam::123456789012:role/images",
            ),
            entry(
                "bedrock-no-profile",
                model="bedrock/stability.sd3-5-large-v1",
                aws_region_name="us-west-2",
                aws_profile_name="nosuchprofile",
            ),
            entry("misplaced", model="openai/dall-e-2", api_key=SECRET, aws_region_name="x"),
        ],
        "litellm_settings": {
            "drop_params": True,
            "set_verbose": False,
            "context_window_fallbacks": [{"dall-e-3": ["dall-e-2"]}],
        },
        "router_settings": {"num_retries": 2, "model_group_alias": {"old-name": "dall-e-3"}},
        "general_settings": {"master_key": "sk-master-0123456789abcdef"},
    }


def test_every_model_and_key_gets_a_verdict_and_no_secret_is_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, mixed_config(tmp_path))
    assert main(["check-config", str(path)]) == 1
    out = capsys.readouterr().out

    served = lines_for(out, "model_list[0] dall-e-3:")
    assert served and served[0].startswith("served") and "per pixel (configured)" in served[0]
    assert lines_for(out, "dall-e-3.model_info.mode")[0].startswith("accepted")
    tokens = lines_for(out, "model_list[1] too-many-tokens:")[0]
    assert tokens.startswith("not served") and "model_list[1].litellm_params.tpm" in tokens
    assert "use rpm or ipm" in tokens
    for name in ("imagen-file", "imagen-inline"):
        (credential,) = lines_for(out, f"{name} credentials")
        assert credential.startswith("honoured") and "service account" in credential
    (missing,) = lines_for(out, "imagen-missing credentials")
    assert missing.startswith("unresolved") and "no readable file" in missing
    assert lines_for(out, "model_list[4] imagen-missing:")[0].startswith("not served")
    (azure,) = lines_for(out, "azure-sp credentials")
    assert azure.startswith("honoured") and "service principal 'client-1'" in azure
    (role,) = lines_for(out, "bedrock-role credentials")
    assert role.startswith("honoured") and "assumes arn:aws:iam::123456789012:role/images" in role
    assert "the AWS profile 'team'" in role
    (no_profile,) = lines_for(out, "bedrock-no-profile credentials")
    assert no_profile.startswith("unresolved") and "nosuchprofile" in no_profile
    (misplaced,) = lines_for(out, "misplaced:")
    assert misplaced.startswith("not served") and "an option of bedrock" in misplaced

    assert lines_for(out, "litellm_settings.drop_params")[0].startswith("honoured")
    assert lines_for(out, "litellm_settings.set_verbose")[0].startswith("accepted")
    refused = lines_for(out, "litellm_settings.context_window_fallbacks")[0]
    assert refused.startswith("refused") and "not for images" in refused
    assert lines_for(out, "router_settings.model_group_alias")[0].startswith("honoured")
    assert lines_for(out, "general_settings.master_key")[0].startswith("honoured")
    assert "NOT OK: 5 model(s) served, 7 problem(s)" in out

    for secret in (SECRET, CLIENT_SECRET, "not-a-real-key", "sk-master-0123456789abcdef"):
        assert secret not in out


def test_a_config_that_serves_everything_exits_0_as_a_command(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "model_list": [entry("dall-e-3", model="openai/dall-e-3", api_key=SECRET)],
            "litellm_settings": {"request_timeout": 300, "num_retries": 1},
        },
    )
    command = Path(sys.executable).with_name("imagegen")
    done = subprocess.run(
        [str(command), "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok: 1 model(s) served, 0 problem(s)" in done.stdout
    assert "honoured  litellm_settings.num_retries" in done.stdout


def test_a_problem_between_parts_is_reported_with_the_loads_own_words() -> None:
    same_id = {"id": "one"}
    report = check_config(
        {
            "model_list": [
                {**entry("a", model="openai/dall-e-2", api_key=SECRET), "model_info": same_id},
                {**entry("b", model="openai/dall-e-3", api_key=SECRET), "model_info": same_id},
            ]
        },
        source="ids.yaml",
    )
    assert not report.ok and report.settings is None
    (whole,) = [f for f in report.findings if f.where == "(whole file)"]
    assert whole.status == "refused" and "two deployments have the id 'one'" in whole.detail


def test_unreadable_and_unparsable_files_are_one_refusal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(tmp_path / "absent.yaml")]) == 1
    assert "cannot read the config file" in capsys.readouterr().out
    broken = tmp_path / "broken.yaml"
    broken.write_text("model_list: [\n")
    assert main(["check-config", str(broken)]) == 1
    assert "not valid YAML" in capsys.readouterr().out


def test_serve_runs_the_same_check_and_does_not_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The whole file loads (a config load alone would start), but a key file is missing.
    path = write(
        tmp_path,
        {
            "model_list": [
                entry(
                    "imagen",
                    model="vertex_ai/imagen-3.0-generate-002",
                    vertex_project="proj",
                    vertex_location="us-central1",
                    vertex_credentials=str(tmp_path / "absent.json"),
                )
            ]
        },
    )
    assert main(["serve", "--config", str(path), "--port", "0", "--no-http"]) == 2
    err = capsys.readouterr().err
    assert (
        f"imagegen: config error: {path}: model_list[0] imagen: its credentials: the "
        "vertex_credentials file: no readable file there" in err
    )
    assert "unresolved" in err and "NOT OK" in err


def test_workload_identity_and_its_missing_token_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = {
        "model_list": [
            entry(
                "azure-mi",
                model="azure/dall-e-3",
                api_base="https://example.openai.azure.com",
                api_version="2024-02-01",
            )
        ],
        "litellm_settings": {"enable_azure_ad_token_refresh": True},
    }
    token = tmp_path / "token"
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token))
    missing = check_config(document, source="mi.yaml")
    (credential,) = [f for f in missing.findings if f.where.endswith("credentials")]
    assert credential.status == "unresolved" and not missing.ok
    token.write_text("a-jwt")
    found = check_config(document, source="mi.yaml")
    (credential,) = [f for f in found.findings if f.where.endswith("credentials")]
    assert (credential.status, found.ok) == ("honoured", True)
    assert "workload identity" in credential.detail
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE")
    bare = check_config(document, source="mi.yaml")
    (credential,) = [f for f in bare.findings if f.where.endswith("credentials")]
    # Only an Azure host's managed identity could answer: said, not failed.
    assert credential.status == "note" and bare.ok


def test_a_model_naming_a_guardrail_is_checked_with_the_guardrails_section() -> None:
    report = check_config(
        {
            "model_list": [
                {
                    "model_name": "placeholder",
                    "litellm_params": {"model": "local/placeholder"},
                    "model_info": {"guardrails": ["no-pii"]},
                }
            ],
            "guardrails": [{"guardrail_name": "no-pii", "litellm_params": {"guardrail": "pii"}}],
        },
        source="g.yaml",
    )
    assert report.ok, report.render()
    assert [f.status for f in report.findings if f.where == "model_list[0] placeholder"] == [
        "served"
    ]
