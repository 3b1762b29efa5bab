"""Reading README.md and docs/: the Markdown files, their runnable examples, their links."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# `<!-- runnable -->` (or `<!-- runnable: needs grpcurl -->`) on the line before a fence marks
# the block as an example the test suite runs against a live placeholder gateway.
_MARKER = re.compile(r"^<!--\s*runnable(?::\s*needs\s+(?P<needs>[\w-]+))?\s*-->\s*$")
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
_LANGUAGES = {"python": "python", "py": "python", "sh": "sh", "bash": "sh", "shell": "sh"}


def markdown_files() -> list[Path]:
    """README.md and every page under docs/, generated ones included."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


@dataclass(frozen=True)
class Example:
    path: Path
    line: int
    language: str
    """"python" or "sh"."""
    code: str
    needs: str | None
    """A tool the example calls that `make test` may not have installed (grpcurl)."""

    @property
    def id(self) -> str:
        """`docs/page.md:12`, with `-grpcurl` for examples that need it (`pytest -k grpcurl`)."""
        where = f"{self.path.relative_to(ROOT)}:{self.line}"
        return f"{where}-{self.needs}" if self.needs else where


def examples(path: Path) -> list[Example]:
    """The runnable examples of one file, in order."""
    lines = path.read_text("utf-8").split("\n")
    found: list[Example] = []
    for index, line in enumerate(lines):
        marker = _MARKER.match(line.strip())
        if not marker:
            continue
        fence = _FENCE.match(lines[index + 1]) if index + 1 < len(lines) else None
        if fence is None:
            raise ValueError(f"{path}:{index + 1}: a runnable marker must precede a code fence")
        language = _LANGUAGES.get(fence["lang"])
        if language is None:
            raise ValueError(f"{path}:{index + 2}: runnable {fence['lang']!r} is not python or sh")
        body: list[str] = []
        for closing in range(index + 2, len(lines)):
            if lines[closing].startswith(fence["fence"]):
                break
            body.append(lines[closing])
        else:
            raise ValueError(f"{path}:{index + 2}: unclosed fence")
        found.append(Example(path, index + 2, language, "\n".join(body) + "\n", marker["needs"]))
    return found


def all_examples() -> list[Example]:
    return [example for path in markdown_files() for example in examples(path)]


# [text](target) and ![alt](target), outside code; reference definitions `[x]: target`.
_INLINE_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+(\S+)", re.MULTILINE)
_CODE_FENCE = re.compile(r"^(`{3,}|~{3,}).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1", re.DOTALL)
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*(?:\{#([\w-]+)\})?\s*$", re.MULTILINE)
_EXPLICIT_ID = re.compile(r"\{#([\w-]+)\}")


def links(path: Path) -> list[str]:
    """Every link target in a Markdown file, code blocks and code spans left out."""
    text = _CODE_FENCE.sub("", path.read_text("utf-8"))
    text = _CODE_SPAN.sub("", text)
    return _INLINE_LINK.findall(text) + _REFERENCE.findall(text)


def slug(heading: str) -> str:
    """The id Python-Markdown's toc (MkDocs) and GitHub give a heading, for plain headings."""
    text = re.sub(r"`|\*\*|\*|_(?=\w)|\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[^\w\s-]", "", text.lower()).strip()
    return re.sub(r"[\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    """The heading ids of a Markdown file (explicit `{#id}` ones included)."""
    text = _CODE_FENCE.sub("", path.read_text("utf-8"))
    found: set[str] = set()
    for match in _HEADING.finditer(text):
        found.add(match[2] or slug(match[1]))
    found |= set(_EXPLICIT_ID.findall(text))
    return found
