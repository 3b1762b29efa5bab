"""docs/reference/grpc-api.md from the proto files' own comments.

protoc (grpcio-tools ships it) parses the protos into a FileDescriptorSet with source info;
the comments are read from its locations, so what the page says is what the contract says.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from google.api import field_behavior_pb2
from google.protobuf import descriptor_pb2

from scripts.docgen.markdown import GENERATED_NOTE, anchor, cell, code, table

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "protos"
PACKAGE = "imagegen.v1"

# Field numbers in descriptor.proto: the path elements of SourceCodeInfo locations.
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE = 4, 5, 6
_MESSAGE_FIELD, _MESSAGE_NESTED, _MESSAGE_ENUM, _MESSAGE_ONEOF = 2, 3, 4, 8
_ENUM_VALUE, _SERVICE_METHOD = 2, 2

_Path = tuple[int, ...]
_FD = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    _FD.TYPE_DOUBLE: "double",
    _FD.TYPE_FLOAT: "float",
    _FD.TYPE_INT64: "int64",
    _FD.TYPE_UINT64: "uint64",
    _FD.TYPE_INT32: "int32",
    _FD.TYPE_FIXED64: "fixed64",
    _FD.TYPE_FIXED32: "fixed32",
    _FD.TYPE_BOOL: "bool",
    _FD.TYPE_STRING: "string",
    _FD.TYPE_BYTES: "bytes",
    _FD.TYPE_UINT32: "uint32",
    _FD.TYPE_SFIXED32: "sfixed32",
    _FD.TYPE_SFIXED64: "sfixed64",
    _FD.TYPE_SINT32: "sint32",
    _FD.TYPE_SINT64: "sint64",
}
_WELL_KNOWN = "https://protobuf.dev/reference/protobuf/google.protobuf/#"


def descriptor_set(protos: Sequence[str]) -> descriptor_pb2.FileDescriptorSet:
    """Run protoc on `protos` (paths under protos/) and parse what it writes."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{PROTO_ROOT}",
                "--include_source_info",
                f"--descriptor_set_out={out}",
                *protos,
            ],
            check=True,
        )
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


@dataclass
class _Comments:
    by_path: dict[_Path, str]

    @classmethod
    def of(cls, file: descriptor_pb2.FileDescriptorProto) -> _Comments:
        found: dict[_Path, str] = {}
        for location in file.source_code_info.location:
            text = location.leading_comments or location.trailing_comments
            if text:
                found[tuple(location.path)] = _unindent(text)
        return cls(found)

    def at(self, *path: int) -> str:
        return self.by_path.get(tuple(path), "")


def _unindent(comment: str) -> str:
    lines = [line[1:] if line.startswith(" ") else line for line in comment.strip("\n").split("\n")]
    return "\n".join(lines).strip()


def _paragraphs(comment: str) -> str:
    """A proto comment as Markdown: its lines joined, its blank lines kept as breaks."""
    blocks = [" ".join(block.split()) for block in comment.split("\n\n")]
    return "\n\n".join(block for block in blocks if block)


def _type_link(type_name: str) -> str:
    name = type_name.lstrip(".")
    if name.startswith(PACKAGE + "."):
        short = name[len(PACKAGE) + 1 :]
        return f"[`{short}`](#{anchor(name)})"
    if name.startswith("google.protobuf."):
        short = name.rsplit(".", 1)[1]
        return f"[`{name}`]({_WELL_KNOWN}{short.lower()})"
    return code(name)


def _field_type(field: descriptor_pb2.FieldDescriptorProto, maps: dict[str, str]) -> str:
    if field.type in (_FD.TYPE_MESSAGE, _FD.TYPE_ENUM):
        name = field.type_name.lstrip(".")
        if name in maps:
            return maps[name]
        rendered = _type_link(field.type_name)
    else:
        rendered = code(_SCALARS[field.type])
    if field.label == _FD.LABEL_REPEATED:
        return f"repeated {rendered}"
    if field.proto3_optional:
        return f"optional {rendered}"
    return rendered


def _behavior(field: descriptor_pb2.FieldDescriptorProto) -> str:
    values = field.options.Extensions[field_behavior_pb2.field_behavior]
    return ", ".join(field_behavior_pb2.FieldBehavior.Name(v) for v in values)


class _Writer:
    def __init__(self, file: descriptor_pb2.FileDescriptorProto) -> None:
        self.file = file
        self.comments = _Comments.of(file)
        self.out: list[str] = []

    def write(self) -> str:
        file = self.file
        self.out.append(f"## `{file.name}`\n")
        header = self.comments.at(12)  # `syntax`: the file's opening comment sits on it
        if header:
            self.out.append(_paragraphs(header) + "\n")
        for index, service in enumerate(file.service):
            self._service(service, (_FILE_SERVICE, index))
        for index, message in enumerate(file.message_type):
            self._message(message, f"{PACKAGE}.{message.name}", (_FILE_MESSAGE, index))
        for index, enum in enumerate(file.enum_type):
            self._enum(enum, f"{PACKAGE}.{enum.name}", (_FILE_ENUM, index))
        return "\n".join(self.out)

    def _service(self, service: descriptor_pb2.ServiceDescriptorProto, path: _Path) -> None:
        name = f"{PACKAGE}.{service.name}"
        self.out.append(f"### service {service.name} {{#{anchor(name)}}}\n")
        self.out.append(_paragraphs(self.comments.at(*path)) + "\n")
        rows = []
        for index, method in enumerate(service.method):
            request = _type_link(method.input_type)
            response = _type_link(method.output_type)
            if method.client_streaming:
                request = f"stream {request}"
            if method.server_streaming:
                response = f"stream {response}"
            comment = self.comments.at(*path, _SERVICE_METHOD, index)
            rows.append([f"`{method.name}`", request, response, cell(comment)])
        self.out.append(table(["Method", "Request", "Response", "Description"], rows))

    def _message(self, message: descriptor_pb2.DescriptorProto, name: str, path: _Path) -> None:
        if message.options.map_entry:
            return
        self.out.append(f"### {name.removeprefix(PACKAGE + '.')} {{#{anchor(name)}}}\n")
        comment = self.comments.at(*path)
        if comment:
            self.out.append(_paragraphs(comment) + "\n")
        maps = {
            f"{name}.{nested.name}": (
                f"map<{_field_type(nested.field[0], {})}, {_field_type(nested.field[1], {})}>"
            )
            for nested in message.nested_type
            if nested.options.map_entry
        }
        real_oneofs = {
            field.oneof_index
            for field in message.field
            if field.HasField("oneof_index") and not field.proto3_optional
        }
        if message.field:
            rows = []
            for index, field in enumerate(message.field):
                notes = []
                behavior = _behavior(field)
                if behavior:
                    notes.append(behavior)
                if field.HasField("oneof_index") and field.oneof_index in real_oneofs:
                    notes.append(f"oneof `{message.oneof_decl[field.oneof_index].name}`")
                if field.options.deprecated:
                    notes.append("deprecated")
                comment = self.comments.at(*path, _MESSAGE_FIELD, index)
                rows.append(
                    [
                        f"`{field.name}`",
                        str(field.number),
                        _field_type(field, maps),
                        cell(", ".join(notes)),
                        cell(comment),
                    ]
                )
            self.out.append(table(["Field", "No.", "Type", "", "Description"], rows))
        else:
            self.out.append("No fields.\n")
        for index, nested in enumerate(message.nested_type):
            self._message(nested, f"{name}.{nested.name}", (*path, _MESSAGE_NESTED, index))
        for index, enum in enumerate(message.enum_type):
            self._enum(enum, f"{name}.{enum.name}", (*path, _MESSAGE_ENUM, index))

    def _enum(self, enum: descriptor_pb2.EnumDescriptorProto, name: str, path: _Path) -> None:
        self.out.append(f"### enum {name.removeprefix(PACKAGE + '.')} {{#{anchor(name)}}}\n")
        comment = self.comments.at(*path)
        if comment:
            self.out.append(_paragraphs(comment) + "\n")
        rows = [
            [f"`{value.name}`", str(value.number), cell(self.comments.at(*path, _ENUM_VALUE, i))]
            for i, value in enumerate(enum.value)
        ]
        self.out.append(table(["Value", "No.", "Description"], rows))


def render() -> str:
    protos = sorted(
        p.relative_to(PROTO_ROOT).as_posix() for p in (PROTO_ROOT / "imagegen").rglob("*.proto")
    )
    files = [f for f in descriptor_set(protos).file if f.package == PACKAGE]
    parts = [
        GENERATED_NOTE.format(source="protoref.py"),
        "# gRPC API reference\n",
        "Every service, message and enum of the `imagegen.v1` package, with the comments "
        "of the proto files (`protos/imagegen/v1/`). How to call it, the trailers and the "
        "error model are explained in [the gRPC door](../grpc.md).\n",
    ]
    parts += [_Writer(file).write() for file in sorted(files, key=lambda f: f.name)]
    return "\n".join(parts).rstrip("\n") + "\n"
