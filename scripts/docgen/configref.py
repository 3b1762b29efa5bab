"""docs/reference/configuration.md from the config schema: the pydantic models the loader
validates a config file with (`imagegen.config._File` and every model it nests).

Generic over pydantic models: a section converted to a model is picked up with its keys,
types, defaults and docstrings, with nothing to register here.
"""

from __future__ import annotations

import ast
import enum
import inspect
import itertools
import os
import textwrap
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from unittest import mock

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from imagegen import config
from scripts.docgen.markdown import GENERATED_NOTE, anchor, cell, code, table

ROOT_MODEL: type[BaseModel] = config._File


@dataclass(frozen=True)
class Section:
    path: str
    """Where the model sits in a config file: "server_settings", "model_list[].model_info"."""
    model: type[BaseModel]


def _models_in(annotation: object) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation names, through Optional, unions, lists, Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _is_sequence(annotation: object) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    return any(_is_sequence(arg) for arg in typing.get_args(annotation) if arg is not type(None))


def sections(root: type[BaseModel] = ROOT_MODEL) -> list[Section]:
    """Every model of the schema, depth first in declaration order, each once."""
    found: list[Section] = []
    seen: set[type[BaseModel]] = set()

    def visit(model: type[BaseModel], path: str) -> None:
        if model in seen:
            return
        seen.add(model)
        found.append(Section(path, model))
        for name, field in model.model_fields.items():
            key = field.alias or name
            nested = list(_models_in(field.annotation))
            suffix = "[]" if _is_sequence(field.annotation) else ""
            for inner in nested:
                label = f"{path}.{key}{suffix}" if path else f"{key}{suffix}"
                if len(nested) > 1:
                    label += f" ({_variant(inner)})"
                visit(inner, label)

    visit(root, "")
    return found


def _variant(model: type[BaseModel]) -> str:
    """A union member's name as a reader knows it: its `type` tag when it has one."""
    tag = model.model_fields.get("type")
    if tag is not None:
        args = typing.get_args(tag.annotation)
        if args and all(isinstance(a, str) for a in args):
            return "type: " + " | ".join(args)
    return model.__name__.lstrip("_")


@cache
def _attribute_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """Attribute docstrings read from the class body, for models that do not set
    `use_attribute_docstrings` (pydantic then leaves `description` empty)."""
    try:
        source = textwrap.dedent(inspect.getsource(model))
    except (OSError, TypeError):
        return {}
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    docs: dict[str, str] = {}
    statements = body.body
    for statement, following in itertools.pairwise(statements):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = inspect.cleandoc(following.value.value)
    return docs


def _description(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    own = field.description or _attribute_docstrings(model).get(name, "")
    for base in model.__mro__[1:]:
        if own or not (isinstance(base, type) and issubclass(base, BaseModel)):
            break
        if name in base.model_fields:
            own = _description(base, name, base.model_fields[name])
    return own


def type_name(annotation: object, links: dict[type[BaseModel], str] | None = None) -> str:
    """An annotation as a reader of a YAML file thinks of it; models link to their section."""
    links = links or {}
    if annotation is type(None):
        return "null"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0], links)
    if origin is typing.Literal:
        return " \\| ".join(repr(a) if isinstance(a, str) else str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(type_name(a, links) for a in args)
    if origin in (list, tuple, set, frozenset):
        inner = [a for a in args if a is not Ellipsis]
        return f"list[{', '.join(type_name(a, links) for a in inner)}]" if inner else "list"
    if origin in (dict, typing.Mapping) or (
        origin is not None and getattr(origin, "__name__", "") == "Mapping"
    ):
        return f"map[{', '.join(type_name(a, links) for a in args)}]" if args else "map"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            name = annotation.__name__.lstrip("_")
            return f"[{name}](#{links[annotation]})" if annotation in links else name
        if issubclass(annotation, enum.Enum):
            return " \\| ".join(repr(m.value) for m in annotation)
        if annotation is Decimal:
            return "decimal"
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        try:
            made = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
        if isinstance(made, BaseModel):
            return "(its defaults)"
        return code(_yaml(made))
    if field.default is PydanticUndefined:
        return "**required**"
    return code(_yaml(field.default))


def _yaml(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return _yaml(value.value)
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _section_text(section: Section, links: dict[type[BaseModel], str]) -> str:
    model = section.model
    title = f"`{section.path}`" if section.path else "The top level"
    out = [f"## {title} {{#{anchor(section.path or 'top-level')}}}\n"]
    doc = inspect.getdoc(model)
    if doc and doc != inspect.getdoc(BaseModel):
        out.append(" ".join(doc.split()) + "\n")
    rows = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        rows.append(
            [
                f"`{key}`",
                type_name(field.annotation, links),
                _default(field),
                cell(_description(model, name, field)),
            ]
        )
    out.append(table(["Key", "Type", "Default", "Description"], rows))
    extra = model.model_config.get("extra")
    if extra == "allow":
        out.append(
            "Other keys are accepted here and handled beyond this schema: the section's "
            "guide says which.\n"
        )
    elif extra == "forbid":
        out.append("Any other key is refused at start.\n")
    return "\n".join(out)


def render() -> str:
    # Defaults come from the schema, not from this machine's environment.
    with mock.patch.dict(os.environ, clear=True):
        return _render()


def _render() -> str:
    found = sections()
    links = {s.model: anchor(s.path or "top-level") for s in found}
    parts = [
        GENERATED_NOTE.format(source="configref.py"),
        "# Configuration reference\n",
        "Every key of `config.yaml` that the config schema declares, with its type, its "
        "default and its docstring, generated from the pydantic models the loader validates "
        "a file with. A key marked **required** must be given; `null` means unset. "
        "`os.environ/NAME` may stand for any string value. What the sections are for, with "
        "examples: [Configuration](../configuration.md).\n",
    ]
    parts += [_section_text(section, links) for section in found]
    return "\n".join(parts).rstrip("\n") + "\n"
