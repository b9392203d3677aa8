"""Choice policies over estimator scores, each with exact propensities.

Every policy maps the K scores of one decision (masked candidates at -inf) to a
probability vector over the K candidates; the router samples from it and logs
the probability of the chosen model, so a propensity is always the exact
probability with which that choice was made.
"""

from __future__ import annotations

import dataclasses

import numpy as np

POLICIES = ("greedy", "epsilon", "softmax", "mixed")


@dataclasses.dataclass(frozen=True)
class Policy:
  """greedy: argmax. epsilon: argmax w.p. 1-epsilon, else uniform over the valid
  candidates. softmax: softmax(scores / temperature) over the valid candidates.
  mixed: the paper's Stage-B beta-mixed policy, greedy w.p. beta, else uniform
  (propensity beta + (1-beta)/K for the greedy model, (1-beta)/K otherwise)."""

  name: str = "greedy"
  epsilon: float = 0.1
  temperature: float = 1.0
  beta: float = 0.5

  def __post_init__(self):
    if self.name not in POLICIES:
      raise ValueError(f"unknown policy {self.name!r} (known: {list(POLICIES)})")
    if not 0.0 <= self.epsilon <= 1.0:
      raise ValueError(f"epsilon must lie in [0, 1], got {self.epsilon}")
    if not 0.0 <= self.beta <= 1.0:
      raise ValueError(f"beta must lie in [0, 1], got {self.beta}")
    if not self.temperature > 0:
      raise ValueError(f"temperature must be positive, got {self.temperature}")

  def probabilities(self, scores_K: np.ndarray) -> np.ndarray:
    scores_K = np.asarray(scores_K, dtype=np.float64)
    valid = np.isfinite(scores_K)
    if not valid.any():
      raise ValueError("every candidate is masked: nothing to choose from")
    uniform = valid / valid.sum()
    greedy = np.zeros_like(scores_K)
    greedy[int(np.argmax(np.where(valid, scores_K, -np.inf)))] = 1.0
    if self.name == "greedy":
      return greedy
    if self.name == "epsilon":
      return (1 - self.epsilon) * greedy + self.epsilon * uniform
    if self.name == "mixed":
      return self.beta * greedy + (1 - self.beta) * uniform
    z = np.where(valid, scores_K / self.temperature, -np.inf)
    z = np.exp(z - z[valid].max())
    return z / z.sum()

  def choose(self, scores_K: np.ndarray, rng: np.random.Generator) -> tuple[int, float, np.ndarray]:
    """(chosen index, its propensity, the probability vector)."""
    probs = self.probabilities(scores_K)
    if self.name == "greedy":
      k = int(np.argmax(probs))
    else:
      k = int(rng.choice(len(probs), p=probs))
    return k, float(probs[k]), probs
