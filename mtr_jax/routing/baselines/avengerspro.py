"""AvengersPro-style cluster router with a performance-cost trade-off, single-turn.

AvengersPro (Zhang et al., 2025, "Beyond GPT-5") embeds queries, clusters
them with k-means, and keeps, per cluster and model, the model's accuracy and
cost on the cluster's training queries. A new query goes to its top-p
nearest clusters; in each cluster performance and cost are min-max
normalised across models and combined as alpha * perf + (1 - alpha) *
(1 - cost); the model with the highest total over those clusters answers.

Here: the query is the task (turn-0 history) under the frozen history
encoder; performance and cost are episode outcomes (`episode_outcomes`:
S_norm and the normalised episode cost), weighted means per (cluster, model);
a pair without data takes the model's mean over all clusters; the score is
(1 - w) * perf_norm - w * cost_norm (w = 1 - alpha: the same ranking), summed
over the `top_p` nearest clusters; `cost_weight` w is a routing-time knob.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtr_jax.routing.baselines.cluster_q import cluster_table
from mtr_jax.routing.baselines.families import SingleTurnRouter
from mtr_jax.routing.baselines.kmeans import kmeans, nearest


def minmax(x_K: np.ndarray, valid_K: np.ndarray) -> np.ndarray:
  """(x - min) / (max - min) over the valid entries; 0 where the range is 0."""
  out = np.zeros_like(x_K, dtype=np.float64)
  if not valid_K.any():
    return out
  lo, hi = x_K[valid_K].min(), x_K[valid_K].max()
  if hi > lo:
    out = (x_K - lo) / (hi - lo)
  return np.where(valid_K, out, 0.0)


class AvengersProRouter(SingleTurnRouter):
  """k-means cluster router over tasks (see module docstring).

  n_clusters: k (capped at the number of distinct tasks); top_p: clusters used
  per query; cost_weight: w in [0, 1].
  """

  kind = "avengerspro"

  def __init__(self, encoder, *, n_clusters: int = 16, top_p: int = 1,
               cost_weight: float = 0.3, n_init: int = 4, **kwargs):
    super().__init__(encoder, **kwargs)
    if not 0.0 <= cost_weight <= 1.0:
      raise ValueError(f"cost_weight must lie in [0, 1], got {cost_weight}")
    self.n_clusters, self.top_p = int(n_clusters), int(top_p)
    self.cost_weight, self.n_init = float(cost_weight), int(n_init)

  def config(self) -> dict[str, Any]:
    return {**super().config(), "n_clusters": self.n_clusters, "top_p": self.top_p,
            "cost_weight": self.cost_weight, "n_init": self.n_init}

  def fit_outcomes(self, outcomes, z_QxD) -> "AvengersProRouter":
    km = kmeans(z_QxD, self.n_clusters, n_init=self.n_init, seed=self.seed)
    obs_q, obs_k = np.nonzero(outcomes.observed_QxK)
    labels = km.labels[obs_q]
    w = outcomes.weight_QxK[obs_q, obs_k]
    n_models = len(outcomes.pool_names)
    self.centroids_CxD = km.centroids
    self.perf_CxK, self.weight_CxK = cluster_table(
        labels, obs_k, outcomes.score_QxK[obs_q, obs_k], w, km.k, n_models)
    self.cost_CxK, _ = cluster_table(labels, obs_k, outcomes.cost_QxK[obs_q, obs_k], w,
                                     km.k, n_models)
    self.known_models = list(outcomes.pool_names)
    self.meta["clusters"] = km.k
    return self

  def arrays(self) -> dict[str, np.ndarray]:
    return {"centroids_CxD": self.centroids_CxD, "perf_CxK": self.perf_CxK,
            "cost_CxK": self.cost_CxK, "weight_CxK": self.weight_CxK}

  def restore(self, arrays) -> None:
    for name in ("centroids_CxD", "perf_CxK", "cost_CxK", "weight_CxK"):
      setattr(self, name, arrays[name])

  def scores(self, z_D) -> np.ndarray:
    valid = self.weight_CxK.sum(0) > 0
    total = np.zeros(len(valid))
    for c in nearest(z_D, self.centroids_CxD, self.top_p):
      total += ((1.0 - self.cost_weight) * minmax(self.perf_CxK[c], valid)
                - self.cost_weight * minmax(self.cost_CxK[c], valid))
    return np.where(valid, total, -np.inf)
