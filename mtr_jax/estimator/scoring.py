"""Pure functions over (graphdef, params): scoring candidates and the training loss.

`graphdef, params = nnx.split(Estimator(...))` once; every function here merges
inside, so it can sit under jax.jit / jax.grad / jax.vmap. Candidates are given as
features (feats_Kx8, features.model_features), residual-table rows (ids_K, -1 for an
unseen model) and an optional validity mask (padded slots of a ragged pool).
z_m is computed once per candidate; the Q-network runs under one jax.vmap over the
model axis. Masked candidates score MASKED_SCORE (-inf): argmax never picks them
and softmax gives them probability 0 (as long as one candidate is valid).

A two-head estimator (EstimatorConfig.heads=2) predicts [outcome, remaining
normalised cost] for each pair; `score` combines them as outcome - lam * cost with
the lambda given at routing time (`combine_heads`).
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
from flax import nnx

MASKED_SCORE = -jnp.inf


def encode_models(graphdef: nnx.GraphDef, params: nnx.State, feats_Kx8: jax.Array,
                  model_ids_K: jax.Array) -> jax.Array:
  """z_m_KxM for K candidates."""
  model = nnx.merge(graphdef, params)
  return model.model_encoder(feats_Kx8, model_ids_K)


def mask_scores(q_BxK: jax.Array, mask: jax.Array | None) -> jax.Array:
  """Sets invalid candidates to MASKED_SCORE; mask is [K] or [B, K] (True = valid)."""
  if mask is None:
    return q_BxK
  mask = jnp.asarray(mask, bool)
  if mask.ndim == 1:
    mask = mask[None, :]
  return jnp.where(jnp.broadcast_to(mask, q_BxK.shape), q_BxK, MASKED_SCORE)


def combine_heads(out: jax.Array, heads: int, lam: jax.Array | float | None) -> jax.Array:
  """The score from the network's output: itself for one head ([...]); for two heads
  ([..., 2] = outcome, remaining cost) outcome - lam * cost, lam required."""
  if heads == 1:
    return out
  if lam is None:
    raise ValueError("a two-head estimator needs lam (the cost weight) to score")
  return out[..., 0] - lam * out[..., 1]


def score(graphdef: nnx.GraphDef, params: nnx.State, z_hist_BxD: jax.Array,
          feats_Kx8: jax.Array, model_ids_K: jax.Array, mask: jax.Array | None = None,
          *, key: jax.Array | None = None, deterministic: bool = True,
          lam: jax.Array | float | None = None) -> jax.Array:
  """q_BxK: the score of every (history, candidate) pair.

  key: dropout key, only with deterministic=False (each candidate gets its own
  stream, split from it). lam: the cost weight of a two-head estimator (ignored by
  a one-head estimator, whose lambda was fixed by its training targets).
  """
  model = nnx.merge(graphdef, params)
  z_m_KxM = model.model_encoder(feats_Kx8, model_ids_K)
  b, k = z_hist_BxD.shape[0], z_m_KxM.shape[0]
  if deterministic:
    keys_K = None
  elif key is None:
    raise ValueError("score: deterministic=False needs a dropout key")
  else:
    keys_K = jax.random.split(key, k)

  def one_model(z_m_M, key_m):
    q_B = model.q_network(z_hist_BxD, z_m_M[None, :], key=key_m,
                          deterministic=deterministic)
    return jnp.broadcast_to(q_B, (b, *q_B.shape[1:]))

  out = jax.vmap(one_model, in_axes=(0, 0), out_axes=1)(z_m_KxM, keys_K)
  return mask_scores(combine_heads(out, model.q_network.heads, lam), mask)


def make_scorer(graphdef: nnx.GraphDef):
  """jit(score) with graphdef bound: scorer(params, z_hist_BxD, feats_Kx8, ids_K,
  mask=None, *, key=None, deterministic=True, lam=None) -> q_BxK (lam is traced:
  changing it does not recompile)."""

  def scorer(params, z_hist_BxD, feats_Kx8, model_ids_K, mask=None, *, key=None,
             deterministic=True, lam=None):
    return score(graphdef, params, z_hist_BxD, feats_Kx8, model_ids_K, mask,
                 key=key, deterministic=deterministic, lam=lam)

  return jax.jit(scorer, static_argnames=("deterministic",))


def chosen_scores(graphdef: nnx.GraphDef, params: nnx.State, z_hist_BxD: jax.Array,
                  feats_Kx8: jax.Array, model_ids_K: jax.Array, action_B: jax.Array,
                  *, key: jax.Array | None = None,
                  deterministic: bool = True) -> jax.Array:
  """q_B (q_BxH for two heads): each sample's prediction for its own chosen
  candidate (action_B indexes K).

  Only the chosen pairs go through the Q-network (B evaluations, not B*K), so an
  unchosen candidate receives exactly zero gradient.
  """
  model = nnx.merge(graphdef, params)
  z_m_KxM = model.model_encoder(feats_Kx8, model_ids_K)
  z_m_BxM = jnp.take(z_m_KxM, action_B, axis=0)
  return model.q_network(z_hist_BxD, z_m_BxM, key=key, deterministic=deterministic)


def residual_l2(params: nnx.State) -> jax.Array:
  """Sum of squares of the per-model residual table."""
  return jnp.sum(jnp.square(params["model_encoder"]["residual"][...]))


def squared_error(pred: jax.Array, target: jax.Array, mask_B: jax.Array) -> jax.Array:
  """sq_B: (pred - target)**2 per row, summed over heads for [B, H] predictions;
  0 where mask_B is False (even for a NaN target)."""
  if pred.shape != target.shape:
    raise ValueError(f"prediction {pred.shape} and target {target.shape} differ in shape "
                     "(a two-head estimator needs [N, 2] targets: outcome, remaining cost)")
  m = mask_B if pred.ndim == 1 else mask_B[:, None]
  sq = jnp.square(jnp.where(m, pred - target, 0.0))
  return sq if sq.ndim == 1 else jnp.sum(sq, axis=-1)


def mse_loss(params: nnx.State, graphdef: nnx.GraphDef, batch: Mapping[str, jax.Array],
             feats_Kx8: jax.Array, model_ids_K: jax.Array, *,
             residual_l2_coef: float = 1e-4, key: jax.Array | None = None,
             deterministic: bool = True,
             normalize: str = "weight") -> tuple[jax.Array, dict[str, Any]]:
  """Weighted MSE on the chosen models' scores + residual_l2_coef * residual_l2.

  batch: z_hist_BxD, action_B (int, index into the K candidates), target_B ([B],
  or [B, 2] = outcome, remaining cost for a two-head estimator: the squared errors
  of both heads are summed), and
  optionally weight_B (e.g. 1/propensity; default 1) and mask_B (False for padded
  rows; default all True). Rows with mask False contribute nothing, even if their
  target is NaN.
  normalize: "weight" divides by sum(weight * mask) (self-normalised), "count" by
  the number of valid rows (plain mean of weight * error**2).
  Returns (loss, metrics) for jax.value_and_grad(..., has_aux=True).
  """
  target_B = batch["target_B"]
  pred_B = chosen_scores(graphdef, params, batch["z_hist_BxD"], feats_Kx8, model_ids_K,
                         batch["action_B"], key=key, deterministic=deterministic)
  mask_B = batch.get("mask_B")
  mask_B = (jnp.ones(pred_B.shape[:1], bool) if mask_B is None
            else jnp.asarray(mask_B, bool))
  weight_B = batch.get("weight_B")
  weight_B = jnp.ones(pred_B.shape[:1], pred_B.dtype) if weight_B is None else weight_B
  weight_B = jnp.where(mask_B, weight_B, 0.0)
  sq_B = squared_error(pred_B, target_B, mask_B)
  if normalize == "weight":
    denom = jnp.sum(weight_B)
  elif normalize == "count":
    denom = jnp.sum(mask_B.astype(sq_B.dtype))
  else:
    raise ValueError(f"mse_loss: normalize must be 'weight' or 'count', got {normalize!r}")
  mse = jnp.sum(weight_B * sq_B) / jnp.maximum(denom, 1e-12)
  l2 = residual_l2(params)
  loss = mse + residual_l2_coef * l2
  return loss, {"loss": loss, "mse": mse, "residual_l2": l2}

