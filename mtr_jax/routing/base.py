"""The router hook of the agent loop, and the routers that need no estimator.

A router is called every turn with the message list, the pool, the cost spent so
far and the episode's budget; it returns the model to call, the probability with
which its policy chose that model (logged for inverse-propensity weighting), and
any information to log in the trajectory.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import numpy as np

from mtr_jax.pool import Pool


@dataclasses.dataclass(frozen=True)
class RouteDecision:
  model: str
  propensity: float
  info: dict[str, Any] = dataclasses.field(default_factory=dict)


class Router(Protocol):

  def reset(self, episode_seed: int) -> None:
    """Called once before each episode (seeds any randomness of the policy)."""

  def select(self, messages: list[dict], pool: Pool, spent: float,
             budget: float) -> RouteDecision: ...


class FixedRouter:
  """Always the same model: the single-model baselines."""

  def __init__(self, model: str):
    self.model = model

  def reset(self, episode_seed: int) -> None:
    pass

  def select(self, messages, pool, spent, budget) -> RouteDecision:
    return RouteDecision(pool[self.model].name, 1.0, {"policy": "fixed"})


class RandomRouter:
  """Uniform over the pool each turn ("roulette"); propensity 1/K."""

  def __init__(self, seed: int = 0):
    self.seed = seed
    self._rng = np.random.default_rng(seed)

  def reset(self, episode_seed: int) -> None:
    self._rng = np.random.default_rng([self.seed, episode_seed & 0xFFFFFFFF, 7])

  def select(self, messages, pool, spent, budget) -> RouteDecision:
    k = int(self._rng.integers(len(pool)))
    return RouteDecision(pool.names[k], 1.0 / len(pool), {"policy": "roulette"})
