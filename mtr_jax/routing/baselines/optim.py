"""Full-batch training of the small JAX baselines (RouterDC-, EmbedLLM-style).

Their data is one row per distinct task (hundreds), so every step uses the
whole data set: `steps` AdamW updates (global-norm clipping 1.0) run as one
`jax.lax.scan` inside one `jax.jit`. Parameters are plain pytrees (dicts of
arrays) so they save to npz as they are.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

Params = dict[str, jax.Array]


def glorot(key, shape: tuple[int, int]) -> jax.Array:
  """Uniform Glorot initialisation of a [fan_in, fan_out] matrix."""
  limit = float(np.sqrt(6.0 / (shape[0] + shape[1])))
  return jax.random.uniform(key, shape, jnp.float32, -limit, limit)


def train_full_batch(loss_fn: Callable[[Params, Any], jax.Array], params: Params, data: Any,
                     *, steps: int, lr: float, weight_decay: float
                     ) -> tuple[Params, np.ndarray]:
  """Minimises `loss_fn(params, data)`; returns (params, loss of every step)."""
  opt = optax.chain(optax.clip_by_global_norm(1.0),
                    optax.adamw(lr, weight_decay=weight_decay))

  def step(carry, _):
    p, state = carry
    loss, grads = jax.value_and_grad(loss_fn)(p, data)
    updates, state = opt.update(grads, state, p)
    return (optax.apply_updates(p, updates), state), loss

  @jax.jit
  def run(p):
    (p, _), losses = jax.lax.scan(step, (p, opt.init(p)), None, length=steps)
    return p, losses

  params, losses = run(params)
  return jax.tree.map(np.asarray, params), np.asarray(losses)


def contrastive_loss(logits_NxM: jax.Array, pos_NxM: jax.Array, neg_NxM: jax.Array) -> jax.Array:
  """Mean over positive pairs (n, p) of -log(e^l_np / (e^l_np + sum_neg e^l_nj)).

  RouterDC's form of InfoNCE: each positive competes with the negatives of its
  row only. A row without negatives contributes 0; without positives, nothing.
  """
  masked = jnp.where(neg_NxM, logits_NxM, -1e9)
  neg_lse_N = jax.nn.logsumexp(masked, axis=1)
  per_pair = jnp.logaddexp(logits_NxM, neg_lse_N[:, None]) - logits_NxM
  n_pos = jnp.maximum(pos_NxM.sum(), 1)
  return jnp.where(pos_NxM, per_pair, 0.0).sum() / n_pos


def l2_normalise(x: jax.Array, axis: int = -1) -> jax.Array:
  return x / jnp.sqrt(jnp.sum(x * x, axis=axis, keepdims=True) + 1e-12)
