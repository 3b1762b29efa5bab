"""MkDocs hook (mkdocs.yml `hooks:`): a page under docs/ that `nav` does not name is still
placed, so a page added by a feature's author is reachable (and built strict) before someone
edits the navigation: pages this module knows go to their section, any other to "More guides".
"""

from __future__ import annotations

from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files

SECTION = "More guides"
# Pages announced by work in progress: the nav section each belongs in, and its title.
PLACES: dict[str, tuple[str, str]] = {
    "migrating-from-litellm.md": ("Configuration", "Migrating from LiteLLM"),
    "edits-http.md": ("Calling it", "Edits over HTTP"),
    "edits-providers-vertex-bedrock.md": ("Providers", "Edits on Vertex AI and Bedrock"),
    "edits-providers-recraft-xinference.md": ("Providers", "Edits on Recraft and Xinference"),
    "edit-cost.md": ("Features", "What edits cost"),
    "console.md": ("Operations", "Console"),
    "memory-and-overload.md": ("Operations", "Memory and overload"),
    "adding-a-provider.md": ("Contributing", "Adding a provider"),
}


def _named(nav: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(nav, str):
        found.add(nav)
    elif isinstance(nav, list):
        for item in nav:
            found |= _named(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            found |= _named(value)
    return found


def _section(nav: list[Any], title: str) -> list[Any] | None:
    """The item list of a top-level nav section; a page entry becomes a section holding it."""
    for index, item in enumerate(nav):
        if isinstance(item, dict) and title in item:
            value = item[title]
            if isinstance(value, list):
                return value
            item[title] = [value]
            return nav[index][title]  # type: ignore[no-any-return]
    return None


def on_files(files: Files, config: MkDocsConfig) -> Files:
    nav = config.nav
    if nav is None:
        return files
    named = _named(nav)
    extra = []
    for page in sorted(f.src_uri for f in files.documentation_pages()):
        if page in named or page.startswith("reference/models/") or page == "reference/layers.md":
            continue
        place = PLACES.get(page)
        section = _section(nav, place[0]) if place else None
        if place is not None and section is not None:
            section.append({place[1]: page})
        else:
            extra.append(page)
    if extra:
        nav.append({SECTION: extra})
    return files
