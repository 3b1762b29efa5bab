"""docs/reference/layers.md: the layer diagram of Concepts and architecture, drawn from the
import-linter contract in pyproject.toml (the one `make lint` enforces), as Mermaid."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from scripts.docgen.markdown import GENERATED_NOTE

ROOT = Path(__file__).resolve().parents[2]


def layers() -> list[str]:
    """The layers contract, top first, `imagegen.` left out; `|` separates independent
    siblings, `:` siblings that may import each other."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    contract = next(c for c in contracts if c.get("type") == "layers")
    return [re.sub(r"\bimagegen\.", "", str(layer)) for layer in contract["layers"]]


def render() -> str:
    found = layers()
    lines = [GENERATED_NOTE.format(source="layersref.py"), "```mermaid", "flowchart TB"]
    for index, layer in enumerate(found):
        lines.append(f'    L{index}["{layer}"]')
    for index in range(len(found) - 1):
        lines.append(f"    L{index} --> L{index + 1}")
    lines.append("```")
    return "\n".join(lines) + "\n"
