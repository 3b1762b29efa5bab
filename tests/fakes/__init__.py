"""Fake provider HTTP servers for the gateway's tests (real HTTP on 127.0.0.1, no mocking)."""

from .azure import AzureFake
from .base import FakeProvider, RecordedRequest
from .openai import OpenAIFake
from .xinference import XinferenceFake

__all__ = ["AzureFake", "FakeProvider", "OpenAIFake", "RecordedRequest", "XinferenceFake"]
