"""docs/reference/errors.md: every error the gateway reports, from the one table that defines
them (imagegen.errors: each class knows its ErrorInfo reason, gRPC code and HTTP status, and
imagegen.http.errors its OpenAI `type`), with each class's docstring."""

from __future__ import annotations

import inspect

from imagegen import errors
from imagegen.http.errors import OPENAI_ERROR_TYPES
from scripts.docgen.markdown import GENERATED_NOTE, cell, table


def error_classes() -> list[type[errors.ImageGenError]]:
    """Every error class callers can meet: each has a reason of its own (a base class that only
    inherits its parent's reason, such as ProviderError, is left out)."""
    found: list[type[errors.ImageGenError]] = []

    def walk(cls: type[errors.ImageGenError]) -> None:
        for sub in cls.__subclasses__():
            if sub.__module__ == errors.__name__ and sub not in found:
                found.append(sub)
                walk(sub)

    walk(errors.ImageGenError)
    own = [c for c in found if "reason" in vars(c)]
    return sorted(own, key=lambda c: (c.reason, c.__name__))


def _openai_type(cls: type[errors.ImageGenError]) -> str:
    for base in cls.__mro__:
        if base in OPENAI_ERROR_TYPES:
            return OPENAI_ERROR_TYPES[base]
    return "server_error"


def _summary(cls: type[errors.ImageGenError]) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.split("\n\n")[0]


def render() -> str:
    rows = [
        [
            f"`{cls.reason}`",
            cls.code.name,
            str(cls.http_status),
            f"`{_openai_type(cls)}`",
            f"`{cls.__name__}`",
            cell(_summary(cls)),
        ]
        for cls in error_classes()
    ]
    return "\n".join(
        [
            GENERATED_NOTE.format(source="errorsref.py"),
            "# Error reference\n",
            "Every error the gateway reports, from `service/imagegen/errors.py` (each class "
            "knows its `ErrorInfo` reason, gRPC code and HTTP status) and "
            "`service/imagegen/http/errors.py` (the OpenAI error `type` of the HTTP door). "
            "The HTTP door's `code` is the reason in lower case. What the common ones mean for "
            "a caller and an operator: [the gRPC door](../grpc.md#errors) and "
            "[the runbook](../operations/runbook.md).\n",
            table(
                ["Reason", "gRPC code", "HTTP", "OpenAI type", "Class", "Meaning"],
                rows,
            ),
        ]
    )
