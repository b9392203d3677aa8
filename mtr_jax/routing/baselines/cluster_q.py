"""k-means cluster Q-table on history embeddings (the reference's baseline).

Reference (`ClusterQFunction`): k-means over the history embeddings of every
training sample; per cluster and model, the mean score and mean cost of the
samples in that cluster taken by that model; at routing time the history's
nearest centroid gives Q_k = score_mean - lam * cost_mean, argmax.

Differences: a (cluster, model) pair without samples falls back to the
model's mean over all clusters (the reference uses 0 for both), and with
`prior_count` m > 0 every cell is shrunk towards that mean,
(sum + m * global) / (n + m). A model without any sample is never chosen.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtr_jax.routing.baselines.families import PerTurnRouter
from mtr_jax.routing.baselines.kmeans import assign, kmeans


def cluster_table(labels_N, action_N, value_N, weight_N, n_clusters: int, n_models: int,
                  prior_count: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
  """(mean [C, K], weight [C, K]) of `value_N` per (cluster, model).

  Empty cells take the model's overall weighted mean (0 if the model has no
  samples at all); `prior_count` shrinks every cell towards it.
  """
  idx = (np.asarray(labels_N), np.asarray(action_N))
  w = np.zeros((n_clusters, n_models))
  wv = np.zeros((n_clusters, n_models))
  np.add.at(w, idx, weight_N)
  np.add.at(wv, idx, np.asarray(weight_N) * np.asarray(value_N))
  total_w = w.sum(0)
  overall_K = np.divide(wv.sum(0), total_w, out=np.zeros(n_models), where=total_w > 0)
  num = wv + prior_count * overall_K[None, :]
  den = w + prior_count
  mean = np.where(den > 0, num / np.where(den > 0, den, 1.0), overall_K[None, :])
  return mean, w


class ClusterQRouter(PerTurnRouter):
  """Cluster Q-table; greedy every turn.

  n_clusters: k of k-means (capped at the number of distinct embeddings).
  prior_count: shrinkage towards the model's global mean (0: plain means).
  max_points: fit the centroids on at most this many samples (seeded subset).
  """

  kind = "cluster_q"

  def __init__(self, encoder, *, n_clusters: int = 16, prior_count: float = 0.0,
               n_init: int = 4, max_points: int | None = 20000, **kwargs):
    super().__init__(encoder, **kwargs)
    self.n_clusters, self.prior_count = int(n_clusters), float(prior_count)
    self.n_init, self.max_points = int(n_init), max_points

  def config(self) -> dict[str, Any]:
    return {**super().config(), "n_clusters": self.n_clusters, "prior_count": self.prior_count,
            "n_init": self.n_init, "max_points": self.max_points}

  def fit_arrays(self, z_NxD, action_N, score_N, cost_N, weight_N, model_names) -> None:
    km = kmeans(z_NxD, self.n_clusters, n_init=self.n_init, seed=self.seed,
                max_points=self.max_points)
    k_models = len(model_names)
    self.centroids_CxD = km.centroids
    self.score_CxK, self.weight_CxK = cluster_table(km.labels, action_N, score_N, weight_N,
                                                    km.k, k_models, self.prior_count)
    self.cost_CxK, _ = cluster_table(km.labels, action_N, cost_N, weight_N, km.k, k_models,
                                     self.prior_count)
    self.known_models = list(model_names)
    self.meta["clusters"] = km.k

  def arrays(self) -> dict[str, np.ndarray]:
    return {"centroids_CxD": self.centroids_CxD, "score_CxK": self.score_CxK,
            "cost_CxK": self.cost_CxK, "weight_CxK": self.weight_CxK}

  def restore(self, arrays) -> None:
    for name in ("centroids_CxD", "score_CxK", "cost_CxK", "weight_CxK"):
      setattr(self, name, arrays[name])

  def cluster(self, z_D) -> int:
    return int(assign(np.asarray(z_D)[None, :], self.centroids_CxD)[0])

  def scores(self, z_D) -> np.ndarray:
    c = self.cluster(z_D)
    q = self.q_values(self.score_CxK[c], self.cost_CxK[c])
    return np.where(self.weight_CxK.sum(0) > 0, q, -np.inf)
