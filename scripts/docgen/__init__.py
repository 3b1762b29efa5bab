"""Generators of the reference pages under docs/reference/ (see `make docs-gen`).

Each page is made from the thing it documents, so it cannot drift from it: the gRPC API from
the proto comments (protoc's descriptor set with source info), the configuration keys from the
config schema's pydantic models, the model tables from the adapters' ModelSpecs and the price
table. `python -m scripts.docgen --check` fails when a committed page differs from what the
generators make now.
"""
