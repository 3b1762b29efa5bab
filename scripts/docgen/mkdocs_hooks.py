"""MkDocs hook (mkdocs.yml `hooks:`): pages under docs/ that `nav` does not name yet are
listed under "More guides", so a page added by a feature's author is reachable (and built
strict) before someone gives it a place in the navigation."""

from __future__ import annotations

from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files

SECTION = "More guides"


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


def on_files(files: Files, config: MkDocsConfig) -> Files:
    named = _named(config.nav)
    extra = sorted(
        f.src_uri
        for f in files.documentation_pages()
        if f.src_uri not in named and not f.src_uri.startswith("reference/models/")
    )
    if extra and config.nav is not None:
        config.nav.append({SECTION: extra})
    return files
