"""The jitted programs of a vmapped sweep (`sweep.train_sweep`): pure functions over
member-stacked pytrees.

Every array with a leading M axis belongs to one member (one config); the shared
data (z_hist_NxD, action_N, feats_Kx8, model_ids_K) is unbatched. Per member:

  - optimiser hyperparameters (lr, alpha = end_lr / lr, weight_decay, clip) live in
    the `optax.inject_hyperparams` state, so `tx.update` reads them from the
    member's own opt_state: the same clip -> AdamW with a cosine-decayed lr as
    `train.make_optimizer`, with the member's peak lr scaling the schedule;
  - the dropout keep probability and the residual L2 coefficient are traced [M]
    arrays (`hp_M`);
  - PRNG: raw key data [M, 2] of the member's perm / dropout keys, derived on the
    host exactly as `train.train` derives them from `config.seed`;
  - early stopping: `active_M` masks a whole epoch's update, so a stopped
    member's params, opt_state and step stay as they were.

The epoch body mirrors `train.make_train_epoch` step for step (same permutation,
padding, dropout key stream, loss), so member i follows the trajectory of a
separate `train()` run of config i.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from mtr_jax.estimator.model import Estimator, EstimatorConfig
from mtr_jax.estimator.scoring import residual_l2, squared_error
from mtr_jax.training.train import TrainState, scan_epoch, scan_eval

# Per-member scalars: the optimiser's (injected) and the loss's (hp_M).
OPTIM_HPARAMS = ("lr", "alpha", "weight_decay", "clip")
LOSS_HPARAMS = ("keep_prob", "residual_l2")


def member_hparams(config) -> dict[str, float]:
  """The per-member scalars of one resolved training config (computed in float64
  on the host, as the single-run trainer's Python constants are)."""
  o = config.optim
  return {"lr": float(o.lr), "alpha": float(o.end_lr) / float(o.lr),
          "weight_decay": float(o.weight_decay), "clip": float(o.clip),
          "keep_prob": 1.0 - float(config.model.dropout),
          "residual_l2": float(config.loss.residual_l2)}


def optimizer(total_steps: int):
  """inject_hyperparams(factory): factory(lr, alpha, weight_decay, clip) is
  `train.make_optimizer`'s clip -> adamw(cosine_decay(lr -> alpha * lr))."""
  decay_steps = max(int(total_steps), 1)

  def factory(lr, alpha, weight_decay, clip):
    schedule = optax.cosine_decay_schedule(init_value=lr, decay_steps=decay_steps,
                                           alpha=alpha)
    return optax.chain(optax.clip_by_global_norm(clip),
                       optax.adamw(schedule, weight_decay=weight_decay))

  return optax.inject_hyperparams(factory)


class _TracedDropout:
  """nnx.Dropout's arithmetic with a traced keep probability (nnx.Dropout branches
  on its rate in Python, so it cannot take a per-member traced rate). With
  keep_prob 1 the mask is all True and x / 1 == x: rate 0 is exact too."""

  def __init__(self, keep_prob: jax.Array):
    self.keep_prob = keep_prob

  def __call__(self, inputs, *, deterministic: bool, rngs: jax.Array):
    if deterministic:
      return inputs
    mask = jax.random.bernoulli(rngs, p=self.keep_prob, shape=inputs.shape)
    return jax.lax.select(mask, inputs / self.keep_prob, jnp.zeros_like(inputs))


def member_loss(params: nnx.State, graphdef: nnx.GraphDef,
                batch: Mapping[str, jax.Array], feats_Kx8: jax.Array,
                model_ids_K: jax.Array, hp: Mapping[str, jax.Array], key: jax.Array):
  """`scoring.mse_loss` (normalize="weight", dropout on) with the member's traced
  keep probability and residual L2 coefficient."""
  model = nnx.merge(graphdef, params)
  model.q_network.dropout = _TracedDropout(hp["keep_prob"])
  z_m_KxM = model.model_encoder(feats_Kx8, model_ids_K)
  z_m_BxM = jnp.take(z_m_KxM, batch["action_B"], axis=0)
  pred_B = model.q_network(batch["z_hist_BxD"], z_m_BxM, key=key, deterministic=False)
  mask_B = batch["mask_B"]
  weight_B = jnp.where(mask_B, batch["weight_B"], 0.0)
  sq_B = squared_error(pred_B, batch["target_B"], mask_B)
  mse = jnp.sum(weight_B * sq_B) / jnp.maximum(jnp.sum(weight_B), 1e-12)
  loss = mse + hp["residual_l2"] * residual_l2(params)
  return loss, {"loss": loss, "mse": mse}


def _rows(shared, member, rows_B):
  return {"z_hist_BxD": shared["z_hist_NxD"][rows_B],
          "action_B": shared["action_N"][rows_B],
          "target_B": member["target_N"][rows_B],
          "weight_B": member["weight_N"][rows_B]}


class Programs(NamedTuple):
  init: Any  # (key_data_Mx2, hp_M) -> (state, best_params)
  epoch: Any  # (state, active_M, epoch, shared, member, train_idx_MxT, hp_M,
  #              perm_kd_Mx2, dropout_kd_Mx2) -> (state, metrics_M); donates state
  eval: Any  # (params, shared, member, rows_MxCxE, mask_MxCxE) -> val_mse_M
  keep_best: Any  # (best, params, improved_M) -> best; donates best


@functools.lru_cache(maxsize=8)
def programs(graphdef: nnx.GraphDef, model_config: EstimatorConfig, batch_size: int,
             total_steps: int) -> Programs:
  """The sweep's compiled programs, shared by every sweep of these static shapes
  (a sequential one-member sweep reuses one compilation for all its runs)."""
  inject = optimizer(total_steps)
  tx = inject(**{k: 0.0 for k in OPTIM_HPARAMS})  # update reads the state's values
  loss_and_grad = jax.value_and_grad(member_loss, has_aux=True)

  def init_member(key_data, hp):
    key = jax.random.wrap_key_data(key_data)
    params = nnx.split(Estimator(model_config, rngs=nnx.Rngs(key)))[1]
    opt_state = inject(**{k: hp[k] for k in OPTIM_HPARAMS}).init(params)
    state = TrainState(params, opt_state, jnp.zeros((), jnp.int32))
    return state, jax.tree.map(jnp.copy, params)

  def member_epoch(state, active, epoch, shared, member, train_idx_T, hp, perm_kd,
                   dropout_kd):
    perm_key = jax.random.wrap_key_data(perm_kd)
    dropout_key = jax.random.wrap_key_data(dropout_kd)

    def grads_of(params, batch, key):
      return loss_and_grad(params, graphdef, batch, shared["feats_Kx8"],
                           shared["model_ids_K"], hp, key)

    new_state, metrics = scan_epoch(state, tx, epoch, train_idx_T, batch_size, perm_key,
                                    dropout_key, lambda rows_B: _rows(shared, member, rows_B),
                                    grads_of)
    state = jax.tree.map(lambda new, old: jnp.where(active, new, old), new_state, state)
    return state, metrics

  def eval_member(params, shared, member, rows_CxE, mask_CxE):
    return scan_eval(graphdef, params, rows_CxE, mask_CxE, shared["feats_Kx8"],
                     shared["model_ids_K"], lambda rows_E: _rows(shared, member, rows_E))

  def keep_member_best(best, params, improved):
    return jax.tree.map(lambda b, p: jnp.where(improved, p, b), best, params)

  member_axes = (0, 0, None, None, 0, 0, 0, 0, 0)
  return Programs(
      init=jax.jit(jax.vmap(init_member)),
      epoch=jax.jit(jax.vmap(member_epoch, in_axes=member_axes), donate_argnums=0),
      eval=jax.jit(jax.vmap(eval_member, in_axes=(0, None, 0, 0, 0))),
      keep_best=jax.jit(jax.vmap(keep_member_best), donate_argnums=0))
