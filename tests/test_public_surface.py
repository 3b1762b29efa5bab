"""The public surface: what `imagegen`, `imagegen.client` and `imagegen.errors` export, what
importing them costs, and that the in-process SDK's loop handling stays invisible at exit."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import imagegen
import imagegen.client
import imagegen.errors

# Changing one of these lists changes the public API: do it on purpose, in the changelog too.
PACKAGE_API = [
    "ContentPolicyViolationError",
    "ImageGenError",
    "ImageObject",
    "ImageResponse",
    "InvalidRequestError",
    "ModelNotFoundError",
    "ProviderError",
    "Router",
    "UnsupportedParameterError",
    "Usage",
    "aimage_generation",
    "image_generation",
]
CLIENT_API = ["AsyncImageGenClient", "GenerateResult", "ImageGenClient", "channel_options"]

# What a gRPC caller must not pay for: the server's dependencies.
SERVER_ONLY = [
    "botocore",
    "redis",
    "PIL",
    "aiohttp",
    "psycopg",
    "opentelemetry.sdk",
    "google.auth",
    "httpx",
    "yaml",
    "imagegen.gateway",
    "imagegen.config",
    "imagegen.providers",
    "imagegen.router",
    "imagegen.spend",
    "imagegen.server",
]


def _modules_after(statement: str) -> list[str]:
    """sys.modules in a fresh interpreter after `statement` (nothing imported before)."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def _loaded(modules: list[str], package: str) -> bool:
    return any(m == package or m.startswith(package + ".") for m in modules)


def test_package_exports() -> None:
    assert imagegen.__all__ == PACKAGE_API
    for name in PACKAGE_API:
        assert getattr(imagegen, name) is not None
    assert set(PACKAGE_API) <= set(dir(imagegen))


def test_package_rejects_unknown_names() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = imagegen.no_such_name


def test_client_exports() -> None:
    assert imagegen.client.__all__ == CLIENT_API
    for name in CLIENT_API:
        assert getattr(imagegen.client, name) is not None


def test_errors_exports_every_public_name_it_defines() -> None:
    defined = {
        name
        for name, value in vars(imagegen.errors).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == "imagegen.errors"
    }
    exported = set(imagegen.errors.__all__)
    assert defined | {"ERROR_DOMAIN"} == exported
    # Every concrete error class can be caught by name from the public module.
    for cls in imagegen.errors.all_error_classes():
        assert cls.__name__ in exported


def test_the_client_loads_none_of_the_server() -> None:
    modules = _modules_after("import imagegen.client")
    assert _loaded(modules, "grpc")
    assert _loaded(modules, "google.protobuf")
    assert _loaded(modules, "imagegen._gen")
    assert [p for p in SERVER_ONLY if _loaded(modules, p)] == []


def test_the_command_line_loads_the_server_only_to_serve() -> None:
    # `imagegen generate` and the key commands are gRPC calls: a client-only install runs them.
    modules = _modules_after("import imagegen.cli")
    assert [p for p in SERVER_ONLY if _loaded(modules, p)] == []


def test_importing_the_package_loads_nothing_until_a_name_is_used() -> None:
    modules = _modules_after("import imagegen")
    assert [m for m in modules if m.startswith("imagegen.")] == []
    modules = _modules_after("from imagegen import ImageGenError")
    assert not _loaded(modules, "imagegen.gateway")


@pytest.mark.parametrize(
    "script",
    [
        """
        from imagegen import image_generation
        response = image_generation("a sea otter", model="placeholder")
        assert len(response.data) == 1
        """,
        """
        import imagegen
        router = imagegen.Router(
            model_list=[{"model_name": "img", "litellm_params": {"model": "local/placeholder"}}]
        )
        assert len(router.image_generation("a sea otter", model="img").data) == 1
        """,
    ],
    ids=["image_generation", "Router"],
)
def test_a_sync_sdk_script_exits_with_a_clean_stderr(script: str) -> None:
    done = subprocess.run(
        # -W default shows ResourceWarnings (unclosed sessions, sockets) too. Not -X dev: its
        # slow-callback reports depend on the machine's load, not on the code.
        [sys.executable, "-W", "default", "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
