"""The OpenAI-compatible HTTP door: POST /v1/images/generations, GET /v1/models, health.

A door like `server/` (the gRPC one): it converts OpenAI's JSON to and from the domain
types and calls the same Gateway. It may import gateway, types and errors; nothing in
the core imports it.
"""
