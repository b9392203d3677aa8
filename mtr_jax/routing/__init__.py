"""Routers: the per-turn model choice."""

from mtr_jax.routing.base import FixedRouter, RandomRouter, RouteDecision, Router

__all__ = ["FixedRouter", "RandomRouter", "RouteDecision", "Router"]
