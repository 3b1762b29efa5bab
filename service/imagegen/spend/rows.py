"""One spend log row per request, and the totals a spend query returns."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

GroupBy = Literal["key", "model", "user", "tag", "operation"]
GROUP_BY: tuple[GroupBy, ...] = ("key", "model", "user", "tag", "operation")
#: The operation column of a generation (an edit's is its operation's name, "inpaint"...).
GENERATE = "generate"
# What the stores can group by: the public groupings, and the deployment that served a row
# (the console's per-deployment error rates).
Grouping = GroupBy | Literal["deployment"]
RowOrder = Literal["cost", "time"]


@dataclass(frozen=True, slots=True)
class SpendRow:
    """What one request cost and where it went. Never image data; the prompt only if asked."""

    time: float
    """Unix time the request started."""
    request_id: str
    key_id: str
    key_alias: str
    user: str
    tags: tuple[str, ...]
    model_group: str
    """The model name the caller asked for."""
    deployment: str
    """The deployment id that served it (empty when none was chosen)."""
    provider: str
    door: str
    n: int
    images: int
    size: str
    quality: str
    status: str
    """"OK" or the error's reason."""
    cost: Decimal | None
    """The actual cost; None when unknown."""
    charged: Decimal
    """What the key's budget was charged: the cost, or the quote when the cost is unknown."""
    input_tokens: int
    output_tokens: int
    latency_ms: float
    attempts: int
    prompt: str | None = None
    operation: str = GENERATE
    """"generate", or the edit's operation ("edit", "inpaint", "vectorize"...)."""
    input_images: int = 0
    """How many input images the edit carried (0 for a generation)."""
    input_bytes: int = 0
    """Their total encoded size, mask included: a size, never the images or their digests."""


@dataclass(frozen=True, slots=True)
class SpendGroup:
    """Totals of the rows of one key, model, user or tag."""

    group: str
    requests: int
    errors: int
    images: int
    cost: Decimal
    unknown_cost_count: int
    input_images: int = 0
    input_bytes: int = 0


@dataclass(frozen=True, slots=True)
class SpendBucket:
    """Totals of one group's rows in one time bucket (the spend query, over time)."""

    start: float
    """Unix time the bucket starts (a multiple of the bucket's length)."""
    group: str
    requests: int
    errors: int
    images: int
    cost: Decimal
    unknown_cost_count: int
