"""Every relative link in README.md and docs/ resolves: the file exists (inside the
repository) and, when the link names an anchor in a Markdown file, that heading exists.

`make docs` (mkdocs --strict) checks the site's pages the same way; this test covers the
README too and runs in `make test` without building the site.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from imagegen.config import parse_settings
from tests.doc_pages import ROOT, anchors, links, markdown_files

FILES = markdown_files()


def _relative(target: str) -> bool:
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and not target.startswith("mailto:")


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_relative_links_resolve(path: Path) -> None:
    broken = []
    for target in links(path):
        if not _relative(target):
            continue
        parts = urlsplit(target)
        destination = path if not parts.path else (path.parent / unquote(parts.path)).resolve()
        if not destination.is_relative_to(ROOT) or not destination.exists():
            broken.append(f"{target}: no such file")
            continue
        fragment = parts.fragment
        if fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            broken.append(f"{target}: no heading #{fragment}")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_link_checker_sees_links_and_anchors() -> None:
    # The checker itself: a page with a known link and heading is read as such.
    readme = ROOT / "README.md"
    assert "docs/getting-started.md" in links(readme)
    assert "the-two-commands" in anchors(readme)


def test_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text("utf-8").count("\n")
    assert lines <= 400, f"README.md has {lines} lines; the rest belongs in docs/"


def test_the_readme_minimal_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("## A minimal config", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    yaml.safe_load(block[1])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("AZURE_API_KEY", "az-test")
    settings = parse_settings(block[1], source="README.md")
    assert settings.model_names() == ["gpt-image-1", "sketch"]
    assert len(settings.deployments) == 3
