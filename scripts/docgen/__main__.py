"""Write the generated reference pages, or with --check fail when a committed one is stale.

python -m scripts.docgen           # make docs-gen
python -m scripts.docgen --check   # make docs-check (CI)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imagegen.litellm_keys_table import markdown_table
from scripts import edit_operations_table, litellm_key_table
from scripts.docgen import configref, errorsref, layersref, protoref, providerref

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"
MODELS = REFERENCE / "models"


def pages() -> dict[Path, str]:
    """Every generated page: its path and the text the generators make now."""
    made: dict[Path, str] = {
        REFERENCE / "grpc-api.md": protoref.render(),
        REFERENCE / "configuration.md": configref.render(),
        REFERENCE / "layers.md": layersref.render(),
        REFERENCE / "errors.md": errorsref.render(),
    }
    for provider, text in providerref.render_all().items():
        made[MODELS / f"{provider}.md"] = text
    # The LiteLLM key table of the migration page (scripts/litellm_key_table.py), in place.
    migration = litellm_key_table.PAGE
    made[migration] = litellm_key_table.with_table(migration.read_text("utf-8"), markdown_table())
    # The edit operations table of docs/edits.md (scripts/edit_operations_table.py), in place.
    edits = edit_operations_table.PAGE
    made[edits] = edit_operations_table.with_table(
        edits.read_text("utf-8"), edit_operations_table.markdown_table()
    )
    return made


def stale(made: dict[Path, str]) -> list[str]:
    """What differs from `made` on disk: changed, missing, or left over from a provider gone."""
    problems = [
        f"{path.relative_to(ROOT)}: {'stale' if path.exists() else 'missing'}"
        for path, text in made.items()
        if not path.exists() or path.read_text("utf-8") != text
    ]
    problems += [
        f"{path.relative_to(ROOT)}: no longer generated"
        for path in sorted(MODELS.glob("*.md"))
        if path not in made
    ]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.docgen")
    parser.add_argument("--check", action="store_true", help="fail on a stale page, write none")
    args = parser.parse_args(argv)
    made = pages()
    if args.check:
        problems = stale(made)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("generated docs are stale: run 'make docs-gen' and commit", file=sys.stderr)
            return 1
        print(f"docs-check: {len(made)} generated pages up to date")
        return 0
    MODELS.mkdir(parents=True, exist_ok=True)
    for path in sorted(MODELS.glob("*.md")):
        if path not in made:
            path.unlink()
    for path, text in made.items():
        path.write_text(text, "utf-8")
    print(f"docs-gen: wrote {len(made)} generated pages under docs/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
