"""EmbedLLM-style matrix-factorisation router, single-turn (route once per episode).

EmbedLLM (Zhuang et al., 2024) learns one embedding per LLM with a matrix-
factorisation correctness predictor: a query embedding is projected to the
model-embedding space, multiplied elementwise with the model's embedding, and
a linear classifier predicts whether that model answers the query correctly
(binary cross-entropy). A router picks the model with the highest predicted
correctness.

Here, compact and in JAX: the query is the task (turn-0 history) under the
frozen history encoder; the label of a (query, model) pair is the episode
outcome S_norm in [0, 1] (`episode_outcomes`), used as a soft label of the
cross-entropy and weighted by the pair's observation weight; routing picks
argmax_k p_k - cost_weight * cost_k, where p_k is the predicted S_norm and
cost_k the model's mean normalised episode cost on the training tasks
(cost_weight = 0: EmbedLLM's plain choice; a routing-time knob).
Training is full-batch AdamW.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mtr_jax.routing.baselines.families import SingleTurnRouter
from mtr_jax.routing.baselines.optim import glorot, train_full_batch


def logits(params, z_NxD: jax.Array) -> jax.Array:
  """Correctness logits [N, K]: classifier(proj(z) * e_k)."""
  q_Nxd = z_NxD @ params["proj_Dxd"] + params["proj_b_d"][None, :]
  return jnp.einsum("nd,kd,d->nk", q_Nxd, params["model_Kxd"], params["cls_w_d"]) \
      + params["cls_b"]


def _loss(params, data):
  lg = logits(params, data["z"])
  bce = jax.nn.softplus(lg) - data["y"] * lg  # soft-label cross-entropy
  return (data["w"] * bce).sum() / data["w"].sum()


class EmbedLLMRouter(SingleTurnRouter):
  """Matrix-factorisation single-turn router (see module docstring).

  dim: size of the model embeddings; cost_weight: routing-time cost penalty.
  """

  kind = "embedllm"

  def __init__(self, encoder, *, dim: int = 32, cost_weight: float = 0.0, steps: int = 500,
               lr: float = 1e-2, weight_decay: float = 1e-4, **kwargs):
    super().__init__(encoder, **kwargs)
    self.dim, self.cost_weight = int(dim), float(cost_weight)
    self.steps, self.lr, self.weight_decay = int(steps), float(lr), float(weight_decay)

  def config(self) -> dict[str, Any]:
    return {**super().config(), "dim": self.dim, "cost_weight": self.cost_weight,
            "steps": self.steps, "lr": self.lr, "weight_decay": self.weight_decay}

  def init_params(self, dim_in: int, n_models: int):
    k1, k2, k3 = jax.random.split(jax.random.key(self.seed), 3)
    return {"proj_Dxd": glorot(k1, (dim_in, self.dim)),
            "proj_b_d": jnp.zeros(self.dim, jnp.float32),
            "model_Kxd": jax.random.normal(k2, (n_models, self.dim), jnp.float32),
            "cls_w_d": glorot(k3, (self.dim, 1))[:, 0],
            "cls_b": jnp.zeros((), jnp.float32)}

  def fit_outcomes(self, outcomes, z_QxD) -> "EmbedLLMRouter":
    data = {"z": jnp.asarray(z_QxD, jnp.float32),
            "y": jnp.asarray(np.clip(outcomes.score_QxK, 0.0, 1.0), jnp.float32),
            "w": jnp.asarray(outcomes.weight_QxK, jnp.float32)}
    params = self.init_params(np.shape(z_QxD)[1], len(outcomes.pool_names))
    self.params, losses = train_full_batch(_loss, params, data, steps=self.steps, lr=self.lr,
                                           weight_decay=self.weight_decay)
    _, cost_K = outcomes.model_means()
    self.cost_K = np.nan_to_num(cost_K, nan=0.0)
    self.observed_K = outcomes.observed_QxK.any(0)
    self.known_models = list(outcomes.pool_names)
    self.meta.update(initial_loss=float(losses[0]), final_loss=float(losses[-1]))
    return self

  def arrays(self) -> dict[str, np.ndarray]:
    return {**{f"param/{k}": v for k, v in self.params.items()}, "cost_K": self.cost_K,
            "observed_K": self.observed_K}

  def restore(self, arrays) -> None:
    self.params = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("param/")}
    self.cost_K, self.observed_K = arrays["cost_K"], arrays["observed_K"]

  def predict(self, z_D) -> np.ndarray:
    """Predicted S_norm of each known model for one task embedding."""
    lg = logits(self.params, jnp.asarray(z_D, jnp.float32)[None, :])
    return np.asarray(jax.nn.sigmoid(lg))[0].astype(np.float64)

  def scores(self, z_D) -> np.ndarray:
    q = self.predict(z_D) - self.cost_weight * self.cost_K
    return np.where(self.observed_K, q, -np.inf)
