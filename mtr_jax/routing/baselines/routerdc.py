"""RouterDC-style dual-contrastive router, single-turn (route once per episode).

RouterDC (Chen et al., NeurIPS 2024) fine-tunes a small encoder (mDeBERTa)
and learns one embedding per LLM so that a query lands close to the LLMs
that answer it well, with two contrastive losses:
- sample-LLM: for each query, its top-K+ LLMs are positives and its
  bottom-K- LLMs negatives; each positive p contributes
  -log(e^{s(q,p)} / (e^{s(q,p)} + sum_n e^{s(q,n)})), s = cos / tau;
- sample-sample: queries are clustered (k-means on their embeddings); a query
  of the same cluster is a positive, queries of other clusters negatives.
Routing picks argmax_k cos(h(q), e_k).

Here, compact and in JAX: the text encoder stays frozen (its embeddings are
the ones every other router uses) and a two-layer projection h(z) is learned
instead of fine-tuning; the per-query labels are episode outcomes
(`episode_outcomes`), utility = S_norm - lam * normalised cost (lam = 0:
score only, as RouterDC), over the models observed for that query; ties at
the top are not split into positives and negatives (a negative must be
strictly worse than every positive). Training is full-batch AdamW.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mtr_jax.routing.baselines.families import SingleTurnRouter
from mtr_jax.routing.baselines.kmeans import kmeans
from mtr_jax.routing.baselines.optim import (contrastive_loss, glorot, l2_normalise,
                                             train_full_batch)


def contrastive_masks(utility_QxK: np.ndarray, observed_QxK: np.ndarray, k_pos: int,
                      k_neg: int) -> tuple[np.ndarray, np.ndarray]:
  """(positive, negative) masks [Q, K]: the top `k_pos` observed models of each
  row and, among its bottom `k_neg`, those strictly worse than every positive."""
  pos = np.zeros(utility_QxK.shape, bool)
  neg = np.zeros(utility_QxK.shape, bool)
  for q in range(utility_QxK.shape[0]):
    obs = np.flatnonzero(observed_QxK[q])
    if len(obs) < 2:
      continue
    order = obs[np.argsort(-utility_QxK[q, obs], kind="stable")]
    n_pos = min(k_pos, len(order) - 1)
    top, rest = order[:n_pos], order[n_pos:]
    floor = utility_QxK[q, top].min()
    bottom = rest[::-1][:k_neg]
    pos[q, top] = True
    neg[q, bottom[utility_QxK[q, bottom] < floor]] = True
  if not neg.any():
    pos[:] = False
  return pos, neg


def project(params, z_NxD: jax.Array) -> jax.Array:
  """Unit query vectors [N, d]: two-layer MLP of the frozen embedding."""
  h = jax.nn.gelu(z_NxD @ params["w1_DxH"] + params["b1_H"][None, :])
  return l2_normalise(h @ params["w2_Hxd"] + params["b2_d"][None, :])


def _loss(params, data):
  tau = data["tau"]
  h_Qxd = project(params, data["z"])
  e_Kxd = l2_normalise(params["model_Kxd"])
  loss = contrastive_loss(h_Qxd @ e_Kxd.T / tau, data["pos"], data["neg"])
  ss = contrastive_loss(h_Qxd @ h_Qxd.T / tau, data["ss_pos"], data["ss_neg"])
  return loss + data["ss_weight"] * ss


class RouterDCRouter(SingleTurnRouter):
  """Dual-contrastive single-turn router (see module docstring).

  lam: cost weight in the utility labels (fixed at training time).
  k_pos / k_neg: positives / negatives per query (sample-LLM loss).
  ss_clusters / ss_weight: k-means clusters and weight of the sample-sample loss.
  """

  kind = "routerdc"

  def __init__(self, encoder, *, lam: float = 0.0, k_pos: int = 1, k_neg: int = 3,
               ss_clusters: int = 8, ss_weight: float = 1.0, hidden: int = 128,
               dim: int = 64, tau: float = 0.2, steps: int = 300, lr: float = 5e-3,
               weight_decay: float = 1e-4, **kwargs):
    super().__init__(encoder, **kwargs)
    self.lam, self.k_pos, self.k_neg = float(lam), int(k_pos), int(k_neg)
    self.ss_clusters, self.ss_weight = int(ss_clusters), float(ss_weight)
    self.hidden, self.dim, self.tau = int(hidden), int(dim), float(tau)
    self.steps, self.lr, self.weight_decay = int(steps), float(lr), float(weight_decay)

  def config(self) -> dict[str, Any]:
    return {**super().config(), "lam": self.lam, "k_pos": self.k_pos, "k_neg": self.k_neg,
            "ss_clusters": self.ss_clusters, "ss_weight": self.ss_weight,
            "hidden": self.hidden, "dim": self.dim, "tau": self.tau, "steps": self.steps,
            "lr": self.lr, "weight_decay": self.weight_decay}

  def init_params(self, dim_in: int, n_models: int):
    k1, k2, k3 = jax.random.split(jax.random.key(self.seed), 3)
    return {"w1_DxH": glorot(k1, (dim_in, self.hidden)),
            "b1_H": jnp.zeros(self.hidden, jnp.float32),
            "w2_Hxd": glorot(k2, (self.hidden, self.dim)),
            "b2_d": jnp.zeros(self.dim, jnp.float32),
            "model_Kxd": jax.random.normal(k3, (n_models, self.dim), jnp.float32)}

  def fit_outcomes(self, outcomes, z_QxD) -> "RouterDCRouter":
    z = np.asarray(z_QxD, np.float32)
    utility = outcomes.score_QxK - self.lam * outcomes.cost_QxK
    pos, neg = contrastive_masks(utility, outcomes.observed_QxK, self.k_pos, self.k_neg)
    labels = kmeans(z, self.ss_clusters, seed=self.seed).labels
    same = labels[:, None] == labels[None, :]
    ss_pos = same & ~np.eye(len(z), dtype=bool)
    data = {"z": jnp.asarray(z), "pos": jnp.asarray(pos), "neg": jnp.asarray(neg),
            "ss_pos": jnp.asarray(ss_pos), "ss_neg": jnp.asarray(~same),
            "tau": jnp.float32(self.tau), "ss_weight": jnp.float32(self.ss_weight)}
    params = self.init_params(z.shape[1], len(outcomes.pool_names))
    self.params, losses = train_full_batch(_loss, params, data, steps=self.steps, lr=self.lr,
                                           weight_decay=self.weight_decay)
    self.observed_K = outcomes.observed_QxK.any(0)
    self.known_models = list(outcomes.pool_names)
    self.meta.update(initial_loss=float(losses[0]), final_loss=float(losses[-1]),
                     positive_pairs=int(pos.sum()), negative_pairs=int(neg.sum()))
    return self

  def arrays(self) -> dict[str, np.ndarray]:
    return {**{f"param/{k}": v for k, v in self.params.items()}, "observed_K": self.observed_K}

  def restore(self, arrays) -> None:
    self.params = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("param/")}
    self.observed_K = arrays["observed_K"]

  def scores(self, z_D) -> np.ndarray:
    h = project(self.params, jnp.asarray(z_D, jnp.float32)[None, :])
    sims = np.asarray(h @ l2_normalise(jnp.asarray(self.params["model_Kxd"])).T)[0]
    return np.where(self.observed_K, sims.astype(np.float64), -np.inf)
