"""Routing strategies: put a group's available deployments in the order to try them.

A strategy is a pure function of the candidates (with their load, latency and price)
and a random source; it returns the candidates in order of preference, and may leave
some out. A custom strategy has the same signature and is named by import path
("package.module:function") in `router_settings.routing_strategy`.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from imagegen.deployment import Deployment
from imagegen.errors import ConfigError
from imagegen.router.state import Load


@dataclass(frozen=True, slots=True)
class Candidate:
    """A deployment the router may call, with what is known about it right now."""

    deployment: Deployment
    load: Load
    latency: float | None
    """Moving average of its call duration for the request's size, in seconds (None: unknown)."""
    cost_per_image: Decimal | None
    """Its price for one image of the request's quality and size (None: unknown)."""


Strategy = Callable[[Sequence[Candidate], random.Random], list[Candidate]]


def simple_shuffle(candidates: Sequence[Candidate], rng: random.Random) -> list[Candidate]:
    """Weighted random order (a deployment with weight 2 comes first twice as often)."""
    # Efraimidis-Spirakis: sorting by u^(1/w) samples without replacement by weight.
    keyed = [(rng.random() ** (1.0 / c.deployment.weight), i) for i, c in enumerate(candidates)]
    keyed.sort(reverse=True)
    return [candidates[i] for _, i in keyed]


def least_busy(candidates: Sequence[Candidate], rng: random.Random) -> list[Candidate]:
    """Fewest calls in flight first (ties in random order)."""
    shuffled = simple_shuffle(candidates, rng)
    return sorted(shuffled, key=lambda c: c.load.in_flight)


def latency_based(candidates: Sequence[Candidate], rng: random.Random) -> list[Candidate]:
    """Fastest observed first; a deployment never measured goes first, to get measured."""
    shuffled = simple_shuffle(candidates, rng)
    return sorted(shuffled, key=lambda c: -1.0 if c.latency is None else c.latency)


def usage_based(candidates: Sequence[Candidate], rng: random.Random) -> list[Candidate]:
    """Least used share of its rpm / ipm limits this minute first."""

    def used(candidate: Candidate) -> float:
        deployment, load = candidate.deployment, candidate.load
        shares = []
        if deployment.rpm:
            shares.append(load.requests / deployment.rpm)
        if deployment.ipm:
            shares.append(load.images / deployment.ipm)
        # Without limits, the raw request count compares deployments fairly enough.
        return max(shares) if shares else float(load.requests)

    return sorted(simple_shuffle(candidates, rng), key=used)


def cost_based(candidates: Sequence[Candidate], rng: random.Random) -> list[Candidate]:
    """Cheapest known price first; deployments of unknown price after every priced one."""
    shuffled = simple_shuffle(candidates, rng)
    return sorted(
        shuffled,
        key=lambda c: (c.cost_per_image is None, c.cost_per_image or Decimal(0)),
    )


BUILT_IN: dict[str, Strategy] = {
    "simple-shuffle": simple_shuffle,
    "least-busy": least_busy,
    "latency-based-routing": latency_based,
    "usage-based-routing": usage_based,
    "cost-based-routing": cost_based,
}


def load_strategy(name: str) -> Strategy:
    """The strategy `name` names: a built-in, or an importable "module:function"."""
    if name in BUILT_IN:
        return BUILT_IN[name]
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ConfigError(
            f"router_settings.routing_strategy: cannot import module {module_name!r}"
        ) from None
    strategy = getattr(module, attr, None)
    if not callable(strategy):
        raise ConfigError(
            f"router_settings.routing_strategy: {module_name!r} has no function {attr!r}"
        )
    found: Strategy = strategy
    return found


def by_order(candidates: Sequence[Candidate]) -> list[list[Candidate]]:
    """Candidates in tiers of `order` (lowest first; deployments without order last)."""
    tiers: dict[float, list[Candidate]] = {}
    for candidate in candidates:
        order = candidate.deployment.order
        tiers.setdefault(float("inf") if order is None else float(order), []).append(candidate)
    return [tiers[key] for key in sorted(tiers)]
