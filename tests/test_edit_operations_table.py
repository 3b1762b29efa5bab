"""docs/edits.md's table of operations per model is the one the specs give (regenerate with
scripts/edit_operations_table.py), and it says what the gateway does: every operation has a
provider besides the placeholder, and what the conformance matrix refuses the table says."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from imagegen.images.operations import EditOperation

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "edit_operations_table.py"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("edit_operations_table", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_holds_the_generated_table() -> None:
    table = generator().markdown_table()
    page = (ROOT / "docs" / "edits.md").read_text("utf-8")
    assert table in page, "run scripts/edit_operations_table.py"
    check = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout


def test_every_operation_is_served_by_a_real_provider() -> None:
    rows = generator().rows()
    served = {
        op
        for model, operations, *_ in rows
        if model != "`local/placeholder`"
        for op in EditOperation
        if f"`{op.value}`" in operations
    }
    assert served == set(EditOperation)


def test_rows_say_what_the_gateway_enforces() -> None:
    by_model = {row[0]: row for row in generator().rows()}
    # (operations, images, mask) as tests/test_edits_matrix.py exercises them.
    assert by_model["`openai/gpt-image-1`"][1:4] == (
        "`edit`, `inpaint`",
        "16 images, 50 MB each",
        "yes",
    )
    assert by_model["`gemini/gemini-2.5-flash-image`"][3] == "no"
    assert by_model["`fal_ai/fal-ai/flux-pro/kontext`"][2:4] == ("1 image", "no")
    assert by_model["`black_forest_labs/flux-kontext-pro`"][2:4] == ("4 images", "no")
    assert "`dall-e-3`" not in " ".join(by_model)  # generation only: not listed
