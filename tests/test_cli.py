"""`imagegen generate` against a served embedded-default gateway."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from PIL import Image

from imagegen.cli import main
from imagegen.config import embedded_settings
from tests.conftest import Served, ServeFactory


@pytest.fixture
async def embedded(serve: ServeFactory) -> Served:
    return await serve(embedded_settings())


def files(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


async def run(*argv: str) -> int:
    # The server runs on this test's event loop and the CLI blocks: give it a thread.
    return await asyncio.to_thread(main, list(argv))


async def test_generate_writes_a_png_and_prints_the_cost(
    embedded: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "otter.png"
    code = await run(
        "generate",
        "a sea otter",
        "--model",
        "placeholder",
        "--size",
        "96x64",
        "--out",
        str(out),
        "--target",
        embedded.address,
    )
    assert code == 0
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (96, 64)
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed
    assert "cost $0 via local/placeholder (local/placeholder)" in printed


async def test_generate_numbers_files_when_n_is_above_one(
    embedded: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "otter.png"
    code = await run(
        "generate",
        "a sea otter",
        "--model",
        "placeholder",
        "--n",
        "2",
        "--size",
        "32x32",
        "--out",
        str(out),
        "--target",
        embedded.address,
    )
    assert code == 0
    first, second = tmp_path / "otter-0.png", tmp_path / "otter-1.png"
    assert files(tmp_path) == [first, second]
    assert first.read_bytes() != second.read_bytes()
    for path in (first, second):
        with Image.open(path) as image:
            assert image.size == (32, 32)
    assert f"wrote {first}, {second}; cost $0" in capsys.readouterr().out


async def test_generate_seed_is_deterministic(embedded: Served, tmp_path: Path) -> None:
    async def render(name: str, seed: str) -> bytes:
        out = tmp_path / name
        code = await run(
            "generate",
            "otter",
            "--size",
            "32x32",
            "--seed",
            seed,
            "--out",
            str(out),
            "--target",
            embedded.address,
        )
        assert code == 0
        return out.read_bytes()

    first = await render("a.png", "1")
    assert first == await render("b.png", "1")
    assert first != await render("c.png", "2")


async def test_generate_error_exits_1_with_the_reason(
    embedded: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "otter.png"
    code = await run(
        "generate",
        "a sea otter",
        "--model",
        "placeholder",
        "--quality",
        "hd",
        "--out",
        str(out),
        "--target",
        embedded.address,
    )
    assert code == 1
    assert not out.exists()
    captured = capsys.readouterr()
    assert "imagegen: UNSUPPORTED_PARAMETER: quality is not supported by placeholder" in (
        captured.err
    )
    assert captured.out == ""


async def test_generate_unknown_model_exits_1(
    embedded: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run(
        "generate",
        "a sea otter",
        "--model",
        "nope",
        "--out",
        str(tmp_path / "x.png"),
        "--target",
        embedded.address,
    )
    assert code == 1
    assert "imagegen: MODEL_NOT_FOUND: no model named 'nope'" in capsys.readouterr().err
    assert files(tmp_path) == []


async def test_generate_unreachable_target_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = await run(
        "generate", "a sea otter", "--out", str(tmp_path / "x.png"), "--target", f"127.0.0.1:{port}"
    )
    assert code == 1
    assert "imagegen: GATEWAY_UNAVAILABLE: the gateway could not be reached" in (
        capsys.readouterr().err
    )


# ----------------------------------------------------------------------------- edit


def _png(path: Path, size: tuple[int, int], colour: tuple[int, int, int, int]) -> Path:
    Image.new("RGBA", size, colour).save(path)
    return path


async def test_edit_with_a_mask_writes_the_edited_image(
    embedded: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _png(tmp_path / "in.png", (40, 30), (200, 200, 200, 255))
    mask_image = Image.new("RGBA", (40, 30), (0, 0, 0, 255))
    mask_image.paste((0, 0, 0, 0), (0, 0, 10, 10))
    mask_image.save(tmp_path / "mask.png")
    out = tmp_path / "out.png"

    code = await run(
        "edit",
        str(source),
        "a red hat",
        "--mask",
        str(tmp_path / "mask.png"),
        "--model",
        "placeholder",
        "--out",
        str(out),
        "--target",
        embedded.address,
    )

    assert code == 0
    with Image.open(out) as edited:
        pixels = edited.convert("RGBA")
        assert pixels.getpixel((2, 2)) != (200, 200, 200, 255)
        assert pixels.getpixel((30, 20)) == (200, 200, 200, 255)
    assert f"wrote {out}" in capsys.readouterr().out


async def test_edit_operation_without_prompt_and_with_references(
    embedded: Served, tmp_path: Path
) -> None:
    source = _png(tmp_path / "in.png", (20, 10), (10, 20, 30, 255))
    reference = _png(tmp_path / "ref.png", (8, 8), (255, 0, 0, 255))
    out = tmp_path / "wide.png"

    outpainted = await run(
        "edit",
        str(source),
        "more sky",
        "--reference",
        str(reference),
        "--operation",
        "outpaint",
        "--outpaint",
        "5,0,5,0",
        "--model",
        "placeholder",
        "--out",
        str(out),
        "--target",
        embedded.address,
    )
    upscaled = await run(
        "edit",
        str(source),
        "--operation",
        "upscale",
        "--model",
        "placeholder",
        "--out",
        str(tmp_path / "big.png"),
        "--target",
        embedded.address,
    )

    assert (outpainted, upscaled) == (0, 0)
    with Image.open(out) as wide, Image.open(tmp_path / "big.png") as big:
        assert wide.size == (30, 10) and big.size == (40, 20)


async def test_edit_refusal_exits_1_with_the_reason(
    embedded: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_an_image = tmp_path / "in.png"
    not_an_image.write_bytes(b"GIF89a not really")

    code = await run(
        "edit", str(not_an_image), "x", "--model", "placeholder", "--target", embedded.address
    )

    assert code == 1
    assert "INVALID_INPUT_IMAGE" in capsys.readouterr().err
