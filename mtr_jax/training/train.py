"""Training the outcome estimator (SPEC section 3): MSE on the chosen models' scores.

  result = train(default_train_config(), data, workdir)

Recipe: 10% of the EPISODES held out for validation; AdamW (lr 1e-3, weight decay
0.01) after global-norm clipping at 1.0, the learning rate cosine-decayed to 1e-5
over the planned steps (epochs x batches per epoch); batch 64, dropout 0.1, up to
100 epochs, early stopping after 3 epochs without a lower validation MSE; residual
L2 1e-4. The best checkpoint (lowest validation MSE) and the latest are kept.

One jitted call per epoch: the epoch's permutation is drawn inside and
`jax.lax.scan` runs every minibatch (the last one padded and masked); the train
state is donated. Randomness: one key per run (`config.seed`), split into init,
permutation (fold_in epoch) and dropout (fold_in step) streams, so a run is a pure
function of (config, data). Every epoch ends with a checkpoint holding the train
state and the progress (epoch, step, patience, best, history), so a killed run
restarted on the same workdir ends with exactly the parameters of an
uninterrupted one.

Validation MSE is deterministic (no dropout), has no L2 term, and uses the same
sample weights as training (1/propensity with `loss.ipw`, else 1).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx
from ml_collections import config_dict
from tqdm.auto import tqdm

from mtr_jax.estimator.model import Estimator, EstimatorConfig
from mtr_jax.estimator.scoring import chosen_scores, mse_loss, squared_error
from mtr_jax.training import checkpoint
from mtr_jax.training.data import TrainData, _as_json, split_by_episode  # noqa: F401
from mtr_jax.training.metrics import MetricWriter

FORMAT = "mtr-jax-estimator-1"
CHECKPOINT_DIR = "checkpoints"


def default_train_config() -> ml_collections.ConfigDict:
  """The reference recipe. model.hist_dim / num_known_models: None = from the data."""
  model = EstimatorConfig().to_dict()
  model["hist_dim"] = config_dict.placeholder(int)
  model["num_known_models"] = config_dict.placeholder(int)
  return ml_collections.ConfigDict({
      "seed": 0,
      "val_fraction": 0.1,
      "eval_batch_size": 1024,
      "wandb_group": config_dict.placeholder(str),
      "model": model,
      "optim": {"lr": 1e-3, "weight_decay": 0.01, "clip": 1.0, "end_lr": 1e-5,
                "batch_size": 64, "epochs": 100, "patience": 3},
      "loss": {"residual_l2": 1e-4, "ipw": False},
  })


# ---------------------------------------------------------------------------
# Pure train / eval functions.


class TrainState(NamedTuple):
  params: nnx.State
  opt_state: optax.OptState
  step: jax.Array  # int32 scalar: optimiser steps taken


def make_optimizer(optim: ml_collections.ConfigDict, total_steps: int):
  """(tx, schedule): clip -> AdamW with the lr cosine-decayed to end_lr."""
  schedule = optax.cosine_decay_schedule(init_value=optim.lr,
                                         decay_steps=max(int(total_steps), 1),
                                         alpha=optim.end_lr / optim.lr)
  tx = optax.chain(optax.clip_by_global_norm(optim.clip),
                   optax.adamw(schedule, weight_decay=optim.weight_decay))
  return tx, schedule


@functools.lru_cache(maxsize=8)
def _programs(graphdef: nnx.GraphDef, optim_items: tuple, total_steps: int,
              residual_l2_coef: float):
  """(tx, schedule, train_epoch, eval_mse), shared by runs of the same shapes and
  hyperparameters in one process (their compiled code is reused)."""
  optim = ml_collections.ConfigDict(dict(optim_items))
  tx, schedule = make_optimizer(optim, total_steps)
  train_epoch = make_train_epoch(graphdef, tx, batch_size=optim.batch_size,
                                 residual_l2_coef=residual_l2_coef)
  return tx, schedule, train_epoch, make_eval(graphdef)


def _rows(arrays: Mapping[str, jax.Array], rows_B: jax.Array) -> dict[str, jax.Array]:
  return {"z_hist_BxD": arrays["z_hist_NxD"][rows_B],
          "action_B": arrays["action_N"][rows_B],
          "target_B": arrays["target_N"][rows_B],
          "weight_B": arrays["weight_N"][rows_B]}


def init_estimator(config: EstimatorConfig, key: jax.Array):
  """(graphdef, params) of a freshly initialised estimator; one compiled program
  instead of an eager dispatch per initialiser."""
  graphdef, _ = nnx.split(nnx.eval_shape(lambda: Estimator(config, rngs=nnx.Rngs(0))))
  return graphdef, _init_params(config, key)


@functools.partial(jax.jit, static_argnums=0)
def _init_params(config: EstimatorConfig, key: jax.Array) -> nnx.State:
  return nnx.split(Estimator(config, rngs=nnx.Rngs(key)))[1]


def scan_epoch(state: TrainState, tx: optax.GradientTransformation, epoch,
               train_idx_T: jax.Array, batch_size: int, perm_key: jax.Array,
               dropout_key: jax.Array, batch_of: Callable, grads_of: Callable):
  """One epoch under `jax.lax.scan`: the training rows permuted (fold_in epoch), cut
  into batches (the last padded and masked); each step takes
  grads_of(params, batch, key) -> ((loss, aux), grads) on batch_of(rows_B) plus
  "mask_B" with key = fold_in(dropout_key, step), then the optimiser update.
  Returns (state, metrics). Shared by `train` and the vmapped sweep's members."""
  n = train_idx_T.shape[0]
  n_batches = -(-n // batch_size)
  pad = n_batches * batch_size - n
  perm_T = jax.random.permutation(jax.random.fold_in(perm_key, epoch), n)
  rows_CxB = jnp.concatenate([train_idx_T[perm_T], jnp.zeros((pad,), jnp.int32)])
  rows_CxB = rows_CxB.reshape(n_batches, batch_size)
  mask_CxB = (jnp.arange(n_batches * batch_size) < n).reshape(n_batches, batch_size)

  def one_step(state: TrainState, xs):
    rows_B, mask_B = xs
    batch = {**batch_of(rows_B), "mask_B": mask_B}
    key = jax.random.fold_in(dropout_key, state.step)
    (_, aux), grads = grads_of(state.params, batch, key)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    weight = jnp.sum(jnp.where(mask_B, batch["weight_B"], 0.0))
    out = (aux["loss"], aux["mse"], optax.tree.norm(grads), weight)
    return TrainState(params, opt_state, state.step + 1), out

  state, (loss_C, mse_C, gnorm_C, weight_C) = jax.lax.scan(
      one_step, state, (rows_CxB, mask_CxB))
  total = jnp.sum(weight_C)
  metrics = {"train_loss": jnp.sum(loss_C * weight_C) / total,
             "train_mse": jnp.sum(mse_C * weight_C) / total,
             "grad_norm": jnp.mean(gnorm_C)}
  return state, metrics


def make_train_epoch(graphdef: nnx.GraphDef, tx: optax.GradientTransformation, *,
                     batch_size: int, residual_l2_coef: float):
  """jit(train_epoch)(state, epoch, arrays, train_idx_T, feats_Kx8, model_ids_K,
  perm_key, dropout_key) -> (state, metrics): one epoch, one dispatch; donates state."""
  loss_and_grad = jax.value_and_grad(mse_loss, has_aux=True)

  def train_epoch(state: TrainState, epoch, arrays, train_idx_T, feats_Kx8,
                  model_ids_K, perm_key, dropout_key):
    def grads_of(params, batch, key):
      return loss_and_grad(params, graphdef, batch, feats_Kx8, model_ids_K,
                           residual_l2_coef=residual_l2_coef, key=key, deterministic=False)

    return scan_epoch(state, tx, epoch, train_idx_T, batch_size, perm_key, dropout_key,
                      lambda rows_B: _rows(arrays, rows_B), grads_of)

  return jax.jit(train_epoch, donate_argnums=0)


def make_eval(graphdef: nnx.GraphDef):
  """jit(eval_mse)(params, arrays, rows_CxE, mask_CxE, feats_Kx8, model_ids_K):
  weighted MSE over the masked rows, deterministic, scanned over chunks."""

  def eval_mse(params, arrays, rows_CxE, mask_CxE, feats_Kx8, model_ids_K):
    return scan_eval(graphdef, params, rows_CxE, mask_CxE, feats_Kx8, model_ids_K,
                     lambda rows_E: _rows(arrays, rows_E))

  return jax.jit(eval_mse)


def scan_eval(graphdef: nnx.GraphDef, params, rows_CxE: jax.Array, mask_CxE: jax.Array,
              feats_Kx8: jax.Array, model_ids_K: jax.Array, batch_of: Callable) -> jax.Array:
  """Weighted MSE (no dropout, no L2) over the masked rows, scanned over chunks of
  batch_of(rows_E). Shared by `train` and the vmapped sweep's members."""
  def chunk(acc, xs):
    rows_E, mask_E = xs
    batch = batch_of(rows_E)
    pred_E = chosen_scores(graphdef, params, batch["z_hist_BxD"], feats_Kx8,
                           model_ids_K, batch["action_B"])
    w_E = jnp.where(mask_E, batch["weight_B"], 0.0)
    sq_E = squared_error(pred_E, batch["target_B"], mask_E)
    return (acc[0] + jnp.sum(w_E * sq_E), acc[1] + jnp.sum(w_E)), None

  zero = jnp.zeros((), jnp.float32)
  (sq, w), _ = jax.lax.scan(chunk, (zero, zero), (rows_CxE, mask_CxE))
  return sq / jnp.maximum(w, 1e-12)


def _chunks(idx: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
  """idx padded to [C, E] rows (E = min(size, len)) and its validity mask."""
  e = max(min(size, len(idx)), 1)
  c = -(-len(idx) // e)
  rows = np.zeros(c * e, np.int32)
  rows[:len(idx)] = idx
  mask = np.arange(c * e) < len(idx)
  return rows.reshape(c, e), mask.reshape(c, e)


# ---------------------------------------------------------------------------
# The loop.


@dataclasses.dataclass
class TrainResult:
  graphdef: nnx.GraphDef
  params: nnx.State  # the best checkpoint's (lowest validation MSE)
  final_params: nnx.State  # after the last epoch
  metadata: dict[str, Any]  # the best checkpoint's
  history: list[dict[str, Any]]  # one record per epoch
  best_val_loss: float | None
  best_epoch: int
  best_step: int
  initial_val_loss: float | None  # before the first update
  epochs_run: int
  stop_reason: str  # "patience" | "epochs"
  resumed_from_step: int | None
  checkpoint_dir: Path


def resolve_config(config: ml_collections.ConfigDict,
                   data: TrainData) -> ml_collections.ConfigDict:
  """A copy with model.hist_dim / num_known_models filled in from the data (a value
  set in the config must agree with it)."""
  config = config.copy_and_resolve_references()
  for field, value in (("hist_dim", data.z_hist_NxD.shape[1]),
                       ("num_known_models", len(data.known_model_names))):
    if config.model[field] is None:
      config.model[field] = value
    elif config.model[field] != value:
      raise ValueError(f"config.model.{field} is {config.model[field]} but the data "
                       f"has {value}")
  heads = config.model.get("heads", 1)
  want = 1 if data.target_N.ndim == 1 else data.target_N.shape[1]
  if heads != want:
    raise ValueError(f"config.model.heads is {heads} but the data has "
                     f"{'scalar' if want == 1 else 'two-column'} targets (a two-head "
                     "estimator needs data built with heads=2: outcome, remaining cost)")
  o = config.optim
  if o.batch_size < 1 or o.epochs < 1 or o.patience < 1 or o.lr <= 0:
    raise ValueError(f"config.optim: batch_size, epochs, patience >= 1 and lr > 0 "
                     f"required, got {o}")
  return config


def _check_resume(meta: Mapping[str, Any], config_json, digest: str, where: Path):
  if meta.get("format") != FORMAT:
    raise checkpoint.CheckpointError(f"{where}: not a training checkpoint of this "
                                     f"trainer (format {meta.get('format')!r})")
  if meta.get("config") != config_json:
    old, new = meta.get("config") or {}, config_json
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    raise checkpoint.CheckpointError(
        f"{where} holds a run with another config (differs in {diff}); resume with "
        f"the same config or use a new workdir")
  if meta.get("data", {}).get("sha256") != digest:
    raise checkpoint.CheckpointError(f"{where} holds a run on other training data; "
                                     f"use a new workdir")


def advance(prog: dict[str, Any], val: float | None, step: int, *, patience: int,
            epochs: int) -> dict[str, Any]:
  """Progress after one more epoch that ended at `step` with validation MSE `val`
  (None without a validation set: every epoch is then the best one)."""
  prog = {**prog, "epoch": prog["epoch"] + 1, "step": step}
  if val is None or prog["best_val_loss"] is None or val < prog["best_val_loss"]:
    prog.update(best_val_loss=val, best_epoch=prog["epoch"], best_step=step,
                patience_count=0)
  else:
    prog["patience_count"] += 1
  if prog["patience_count"] >= patience:
    prog.update(finished=True, stop_reason="patience")
  elif prog["epoch"] >= epochs:
    prog.update(finished=True, stop_reason="epochs")
  return prog


def _warm_start_params(path, model_cfg: EstimatorConfig, data: TrainData) -> nnx.State:
  params, meta = checkpoint.restore_for_inference(
      path, expected_fingerprint=data.encoder_fingerprint)
  if meta["estimator_config"] != _as_json(model_cfg.to_dict()):
    raise ValueError(f"init_from {path}: estimator shapes differ "
                     f"({meta['estimator_config']} vs {model_cfg.to_dict()})")
  if list(meta["known_models"]) != list(data.known_model_names):
    raise ValueError(f"init_from {path}: known models differ "
                     f"({meta['known_models']} vs {list(data.known_model_names)})")
  return params


TRAINER_KEYS = {"format", "config", "pool", "estimator_config", "known_models",
                "feature_stats", "encoder_fingerprint", "lambda", "data", "val_loss",
                "best_val_loss", "progress", "step", "package_version"}


def checkpoint_metadata(config_json, model_cfg: EstimatorConfig, data: TrainData,
                        digest: str, n_train: int, n_val: int, val_loss,
                        prog: Mapping[str, Any]) -> dict[str, Any]:
  """The JSON metadata of a checkpoint (train() and every member of a vmapped
  sweep): data.extra_metadata, then the trainer's own keys, which it may not set."""
  clash = sorted(set(data.extra_metadata) & TRAINER_KEYS)
  if clash:
    raise ValueError(f"TrainData.extra_metadata may not set trainer keys {clash}")
  return {**data.extra_metadata,
          "format": FORMAT, "config": config_json, "pool": list(data.pool),
          "estimator_config": _as_json(model_cfg.to_dict()),
          "known_models": list(data.known_model_names),
          "feature_stats": data.feature_stats.to_dict(),
          "encoder_fingerprint": data.encoder_fingerprint, "lambda": data.lam,
          "data": {"sha256": digest, "num_samples": int(data.target_N.shape[0]),
                   "num_train": n_train, "num_val": n_val},
          "val_loss": val_loss, "best_val_loss": prog["best_val_loss"],
          "progress": prog}


def train(config: ml_collections.ConfigDict, data: TrainData, workdir: str | Path, *,
          progress: bool = True,
          on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
          init_from: str | Path | None = None) -> TrainResult:
  """Trains (or resumes training) in `workdir`; see the module docstring.

  init_from: a checkpoint whose parameters start a fresh run (the paper's Stage
  B warm start; the optimiser starts anew). It must have the same estimator
  shapes, known models and encoder. Ignored when `workdir` has a checkpoint to
  resume from.

  workdir/checkpoints: the Orbax checkpoints (latest and best); workdir/metrics.jsonl
  and workdir/wandb: the metrics. on_epoch_end(epoch, record) is called after each
  epoch's checkpoint is written (a test hook: raising there simulates a kill).
  """
  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  ckpt_dir = workdir / CHECKPOINT_DIR
  config = resolve_config(config, data)
  config_json = _as_json(config.to_dict())
  o = config.optim
  train_idx, val_idx = data.split(config.val_fraction, config.seed)
  if not len(train_idx):
    raise ValueError("train: no training samples")
  steps_per_epoch = -(-len(train_idx) // o.batch_size)
  digest = data.digest()

  # Everything lives committed on one device: restored checkpoints are committed,
  # and mixing committed and uncommitted inputs would compile the epoch twice.
  device = jax.devices()[0]
  put = lambda tree: jax.device_put(tree, device)  # noqa: E731
  key = jax.random.key(config.seed)
  init_key, perm_key, dropout_key = put(tuple(jax.random.split(key, 3)))
  model_cfg = EstimatorConfig.from_dict(config.model.to_dict())
  graphdef, params = init_estimator(model_cfg, init_key)
  tx, schedule, train_epoch, eval_mse = _programs(
      graphdef, tuple(sorted(o.to_dict().items())), o.epochs * steps_per_epoch,
      float(config.loss.residual_l2))
  state = put(TrainState(params, tx.init(params), jnp.zeros((), jnp.int32)))
  arrays = put({"z_hist_NxD": data.z_hist_NxD, "action_N": data.action_N,
                "target_N": data.target_N,
                "weight_N": (data.weight_N if config.loss.ipw
                             else np.ones_like(data.weight_N))})
  train_idx_T = put(train_idx.astype(np.int32))
  val_rows_CxE, val_mask_CxE = put(_chunks(val_idx, config.eval_batch_size))
  feats_Kx8, model_ids_K = put((data.feats_Kx8, data.model_ids_K))

  def validate(params) -> float | None:
    if not len(val_idx):
      return None
    return float(eval_mse(params, arrays, val_rows_CxE, val_mask_CxE, feats_Kx8,
                          model_ids_K))

  prog = {"epoch": 0, "step": 0, "patience_count": 0, "best_val_loss": None,
          "best_epoch": 0, "best_step": 0, "finished": False, "stop_reason": None,
          "rng_key_data": jax.random.key_data(key).tolist(), "history": [],
          "initial_val_loss": None}
  resumed_from = checkpoint.latest_step(ckpt_dir)
  if resumed_from is not None:
    params, opt_state, meta = checkpoint.restore_for_training(
        ckpt_dir, state.params, state.opt_state,
        expected_fingerprint=data.encoder_fingerprint)
    _check_resume(meta, config_json, digest, ckpt_dir)
    prog = dict(meta["progress"])
    key = jax.random.wrap_key_data(jnp.asarray(prog["rng_key_data"], jnp.uint32))
    _, perm_key, dropout_key = put(tuple(jax.random.split(key, 3)))
    state = put(TrainState(params, opt_state, jnp.asarray(prog["step"], jnp.int32)))
  else:
    if init_from is not None:
      params = _warm_start_params(init_from, model_cfg, data)
      state = put(TrainState(params, tx.init(params), jnp.zeros((), jnp.int32)))
      prog["warm_start_from"] = str(init_from)
    prog["initial_val_loss"] = validate(state.params)

  def metadata(val_loss):
    return checkpoint_metadata(config_json, model_cfg, data, digest, len(train_idx),
                               len(val_idx), val_loss, prog)

  metadata(None)  # a clash with the trainer's keys fails before any training

  if not prog["finished"]:
    writer = MetricWriter(workdir, config=config_json, group=config.wandb_group,
                          keep_until=prog["step"])
    bar = tqdm(total=o.epochs, initial=prog["epoch"], disable=not progress,
               desc="train", unit="epoch")
    try:
      while not prog["finished"]:
        t0 = time.perf_counter()
        state, m = train_epoch(state, put(np.int32(prog["epoch"])), arrays,
                               train_idx_T, feats_Kx8, model_ids_K, perm_key,
                               dropout_key)
        m = {k: float(v) for k, v in m.items()}
        t1 = time.perf_counter()
        val = validate(state.params)
        t2 = time.perf_counter()
        if not all(math.isfinite(v) for v in m.values()) or (
            val is not None and not math.isfinite(val)):
          raise FloatingPointError(f"train: non-finite loss in epoch "
                                   f"{prog['epoch'] + 1} ({m}, val_mse {val})")
        prog = advance(prog, val, int(state.step), patience=o.patience, epochs=o.epochs)
        record = {"epoch": prog["epoch"], **m, "val_mse": val,
                  "best_val_mse": prog["best_val_loss"],
                  "lr": float(schedule(prog["step"]))}
        prog["history"] = [*prog["history"], record]
        checkpoint.save(ckpt_dir, prog["step"], state.params, state.opt_state,
                        metadata(val), val_loss=val)
        t3 = time.perf_counter()
        writer.write(prog["step"], {
            **record, "epoch_s": t1 - t0, "eval_s": t2 - t1, "checkpoint_s": t3 - t2,
            "train_samples_per_s": len(train_idx) / (t1 - t0)})
        bar.update(1)
        bar.set_postfix(train=f"{m['train_mse']:.4f}",
                        val="-" if val is None else f"{val:.4f}",
                        best="-" if val is None else f"{prog['best_val_loss']:.4f}")
        if on_epoch_end is not None:
          on_epoch_end(prog["epoch"], record)
      writer.summary({"best_val_mse": prog["best_val_loss"],
                      "best_epoch": prog["best_epoch"], "epochs_run": prog["epoch"],
                      "stop_reason": prog["stop_reason"]})
    finally:
      bar.close()
      writer.close()

  best_params, best_meta = checkpoint.restore_for_inference(
      ckpt_dir, which="best", expected_fingerprint=data.encoder_fingerprint)
  return TrainResult(
      graphdef=graphdef, params=put(best_params), final_params=state.params,
      metadata=best_meta, history=list(prog["history"]),
      best_val_loss=prog["best_val_loss"], best_epoch=prog["best_epoch"],
      best_step=prog["best_step"], initial_val_loss=prog["initial_val_loss"],
      epochs_run=prog["epoch"], stop_reason=prog["stop_reason"],
      resumed_from_step=resumed_from, checkpoint_dir=ckpt_dir)
