"""Vmapped multi-config training: N same-shape configs as ONE jitted program.

  results = train_sweep([config_a, config_b, ...], data, workdir)
  results = train_sweep(configs, [data_lam0, data_lam1, ...], workdir,
                        mesh=sweep_layout.member_mesh())

Members may differ in `sweep_layout.VARIED_FIELDS` (seed, lr, weight decay,
end_lr, clip, patience, dropout, residual L2, ipw) and, through a list of
TrainData (e.g. `dataclasses.replace(data, target_N=..., lam=...)`), in their
targets, weights and lambda; everything else (z_hist, actions, episodes, the pool
features, every shape) is shared and checked. Member i computes what
`train.train(configs[i], data_i, ...)` computes: the same split, initial
parameters, permutations, dropout masks, optimiser (clip -> AdamW, cosine lr) and
early stopping, to float tolerance (tests/training/test_sweep.py).

Per epoch there is one dispatch of the vmapped `lax.scan` epoch and one of the
vmapped validation (sweep_program.py). Early stopping is per member: the host
runs `train.advance` on each member's validation MSE and the next epochs mask
a finished member's update, so its parameters and optimiser state freeze while
the others continue; the loop ends when every member has finished. Each
member's best parameters are kept on the device (selected by mask) and written
at the end to workdir/member_XXX/checkpoints by `checkpoint.save`, with the
metadata `train()` writes: the best step (params only) and, with
save_final_state=True, also the last step (params + optimiser state in the
single-run optax layout), so that `train(configs[i], data_i, workdir/member_XXX)`
finds a finished run and loads it (as train() keeps best and latest).
workdir/member_XXX/metrics.jsonl has the member's epoch records,
workdir/metrics.jsonl (and W&B: one run for the sweep) the sweep's per epoch, and
workdir/sweep.json the members' summaries and the phase timings.

Sharding: `mesh=sweep_layout.member_mesh()` shards the member axis over the
devices (see sweep_layout.py); results equal the unsharded run's. On a multi-host
launch, call `sweep_layout.initialize_distributed_if_launched()` first thing.

A member whose loss turns non-finite stops (stop_reason "nonfinite", its last
finite best kept) instead of failing the sweep. There is no mid-sweep resume: a
workdir that already holds member checkpoints is refused.
"""

from __future__ import annotations

import functools
import json
import math
import time
from pathlib import Path
from typing import Sequence

import jax
import ml_collections
import numpy as np
from flax import nnx
from tqdm.auto import tqdm

import mtr_jax
from mtr_jax.estimator.model import Estimator, EstimatorConfig
from mtr_jax.training import checkpoint, sweep_layout, sweep_program
from mtr_jax.training.metrics import MetricWriter
from mtr_jax.training.train import (CHECKPOINT_DIR, TrainData, TrainResult, _as_json,
                                    _chunks, advance, checkpoint_metadata,
                                    make_optimizer, resolve_config)

SHARED_FIELDS = ("z_hist_NxD", "action_N", "episode_N", "feats_Kx8", "model_ids_K",
                 "val_mask_N")


def _member_data(data: TrainData | Sequence[TrainData], m: int) -> list[TrainData]:
  if isinstance(data, TrainData):
    return [data] * m
  datas = list(data)
  if len(datas) != m:
    raise ValueError(f"train_sweep: {m} configs but {len(datas)} TrainData")
  for i, d in enumerate(datas[1:], 1):
    for name in SHARED_FIELDS:
      a, b = getattr(datas[0], name), getattr(d, name)
      if a is b:
        continue
      if a is None or b is None or a.shape != b.shape or not np.array_equal(a, b):
        raise ValueError(f"train_sweep: data[{i}].{name} differs from data[0]'s; "
                         f"members share it and may differ only in target_N, "
                         f"weight_N and lam")
  return datas


@functools.lru_cache(maxsize=32)
def _graphdef(config: EstimatorConfig) -> nnx.GraphDef:
  return nnx.split(nnx.eval_shape(lambda: Estimator(config, rngs=nnx.Rngs(0))))[0]


def sweep_programs(config: ml_collections.ConfigDict,
                   n_train: int) -> tuple[sweep_program.Programs, int]:
  """(programs, total_steps) for members of this resolved config's shapes; the
  model's dropout is traced, so the graphdef is built with rate 0 (one
  compilation for every dropout value)."""
  shape_cfg = EstimatorConfig.from_dict({**config.model.to_dict(), "dropout": 0.0})
  total_steps = config.optim.epochs * -(-n_train // config.optim.batch_size)
  return sweep_program.programs(_graphdef(shape_cfg), shape_cfg,
                                config.optim.batch_size, total_steps), total_steps


def _finite(values) -> bool:
  return all(v is None or math.isfinite(v) for v in values)


def train_sweep(configs: Sequence[ml_collections.ConfigDict],
                data: TrainData | Sequence[TrainData], workdir: str | Path, *,
                mesh: jax.sharding.Mesh | None = None, progress: bool = True,
                save_final_state: bool = False) -> list[TrainResult]:
  """Trains every config as one member of one vmapped program; see the module
  docstring. Returns one TrainResult per config, in order (params: the member's
  best, on the first device)."""
  t_start = time.perf_counter()
  m = len(configs)
  if not m:
    raise ValueError("train_sweep: no configs")
  workdir = Path(workdir)
  datas = _member_data(data, m)
  configs = [resolve_config(c, d) for c, d in zip(configs, datas)]
  sweep_layout.check_same_shapes(configs)
  c0, o0 = configs[0], configs[0].optim
  splits = [d.split(c.val_fraction, c.seed) for c, d in zip(configs, datas)]
  sizes = sorted({(len(t), len(v)) for t, v in splits})
  if len(sizes) > 1:
    raise ValueError(f"train_sweep: the members' (train, val) split sizes differ "
                     f"{sizes}: their seeds split the episodes differently; give "
                     f"TrainData.val_mask_N to share one split")
  n_train, n_val = sizes[0]
  if not n_train:
    raise ValueError("train_sweep: no training samples")
  member_dirs = [workdir / f"member_{i:03d}" for i in range(m)]
  for d in member_dirs:
    if checkpoint.latest_step(d / CHECKPOINT_DIR) is not None:
      raise ValueError(f"train_sweep: {d / CHECKPOINT_DIR} already holds checkpoints;"
                       f" a sweep does not resume, use a new workdir")

  # Host-side per-member values, then one placement on the devices.
  model_cfgs = [EstimatorConfig.from_dict(c.model.to_dict()) for c in configs]
  progs, total_steps = sweep_programs(c0, n_train)
  place = sweep_layout.Placement(mesh, m)
  keys = [jax.random.key(c.seed) for c in configs]
  kd_Mx3x2 = np.stack([np.asarray(jax.random.key_data(jax.random.split(k, 3)))
                       for k in keys])
  hps = [sweep_program.member_hparams(c) for c in configs]
  hp_M = place.member({k: np.array([h[k] for h in hps], np.float32) for k in hps[0]})
  shared = place.shared({"z_hist_NxD": datas[0].z_hist_NxD,
                         "action_N": datas[0].action_N,
                         "feats_Kx8": datas[0].feats_Kx8,
                         "model_ids_K": datas[0].model_ids_K})
  member = place.member({
      "target_N": np.stack([d.target_N for d in datas]),
      "weight_N": np.stack([d.weight_N if c.loss.ipw else np.ones_like(d.weight_N)
                            for c, d in zip(configs, datas)])})
  train_idx_MxT = place.member(np.stack([t.astype(np.int32) for t, _ in splits]))
  val_chunks = [_chunks(v, c0.eval_batch_size) for _, v in splits]
  val_rows, val_mask = place.member((np.stack([r for r, _ in val_chunks]),
                                     np.stack([k for _, k in val_chunks])))
  perm_kd, dropout_kd = place.member((kd_Mx3x2[:, 1], kd_Mx3x2[:, 2]))
  state, best = progs.init(place.member(kd_Mx3x2[:, 0]), hp_M)
  state, best = place.member((state, best))

  def validate(params):
    if not n_val:
      return None
    return progs.eval(params, shared, member, val_rows, val_mask)

  config_jsons = [_as_json(c.to_dict()) for c in configs]
  digests: dict[int, str] = {}
  for d in datas:
    digests.setdefault(id(d), d.digest())
  initial_val = sweep_layout.to_host(validate(state.params))
  progs_host = [{"epoch": 0, "step": 0, "patience_count": 0, "best_val_loss": None,
                 "best_epoch": 0, "best_step": 0, "finished": False,
                 "stop_reason": None,
                 "rng_key_data": jax.random.key_data(key).tolist(), "history": [],
                 "initial_val_loss": None if initial_val is None
                 else float(initial_val[i])}
                for i, key in enumerate(keys)]
  best_progs = list(progs_host)  # each member's progress at its best epoch
  schedules = [make_optimizer(c.optim, total_steps)[1] for c in configs]
  timings = {"setup_s": time.perf_counter() - t_start, "train_s": 0.0,
             "eval_and_host_s": 0.0, "checkpoint_s": 0.0}

  writer = MetricWriter(workdir, group=c0.wandb_group, config={
      "members": m, "base": config_jsons[0],
      "varied": [sweep_layout.varied_values(c) for c in configs]})
  member_writers = [MetricWriter(d, use_wandb=False) for d in member_dirs]
  bar = tqdm(total=o0.epochs, disable=not progress, desc=f"sweep[{m}]", unit="epoch")
  active = np.ones(m, bool)
  epoch = 0
  try:
    while active.any():
      t0 = time.perf_counter()
      state, metrics = progs.epoch(state, place.member(active),
                                   place.shared(np.int32(epoch)), shared, member,
                                   train_idx_MxT, hp_M, perm_kd, dropout_kd)
      metrics, step_M = sweep_layout.to_host((metrics, state.step))
      t1 = time.perf_counter()
      val_M = sweep_layout.to_host(validate(state.params))
      t2 = time.perf_counter()
      improved = np.zeros(m, bool)
      for i in np.flatnonzero(active):
        mi = {k: float(v[i]) for k, v in metrics.items()}
        val = None if val_M is None else float(val_M[i])
        c, prog = configs[i], progs_host[i]
        if not _finite([*mi.values(), val]):
          progs_host[i] = {**prog, "finished": True, "stop_reason": "nonfinite"}
          continue
        prog = advance(prog, val, int(step_M[i]), patience=c.optim.patience,
                       epochs=c.optim.epochs)
        record = {"epoch": prog["epoch"], **mi, "val_mse": val,
                  "best_val_mse": prog["best_val_loss"],
                  "lr": float(schedules[i](prog["step"]))}
        prog["history"] = [*prog["history"], record]
        progs_host[i] = prog
        if prog["best_epoch"] == prog["epoch"]:
          improved[i] = True
          best_progs[i] = prog
        member_writers[i].write(prog["step"], record)
      if improved.any():
        best = progs.keep_best(best, state.params, place.member(improved))
      t3 = time.perf_counter()
      timings["train_s"] += t1 - t0
      timings["eval_and_host_s"] += t3 - t1
      vals = [p["best_val_loss"] for p in progs_host if p["best_val_loss"] is not None]
      writer.write(epoch + 1, {
          "epoch": epoch + 1, "active": int(active.sum()),
          "best_val_mse": min(vals) if vals else None, "epoch_s": t1 - t0,
          "eval_s": t2 - t1,
          "member_samples_per_s": n_train * int(active.sum()) / (t1 - t0)})
      active = np.array([not p["finished"] for p in progs_host])
      epoch += 1
      bar.update(1)
      bar.set_postfix(active=int(active.sum()),
                      best="-" if not vals else f"{min(vals):.4f}")
    t0 = time.perf_counter()
    results = _save_members(
        configs, datas, model_cfgs, member_dirs, config_jsons, digests, n_train,
        n_val, progs_host, best_progs, best, state, save_final_state)
    timings["checkpoint_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    writer.summary({"epochs": epoch, **timings})
    _write_summary(workdir, configs, results, timings, place, epoch)
  finally:
    bar.close()
    writer.close()
    for w in member_writers:
      w.close()
  return results


def _save_members(configs, datas, model_cfgs, member_dirs, config_jsons, digests,
                  n_train, n_val, progs_host, best_progs, best, state,
                  save_final_state) -> list[TrainResult]:
  """Writes each member's best (and final) checkpoint; returns the results.
  (Every process makes the same saves in the same order: Orbax synchronises
  them on a multi-process launch.)"""
  best_host, final_host, opt_host = sweep_layout.to_host(
      (best, state.params, state.opt_state.inner_state))
  device = jax.devices()[0]
  results, requests = [], []
  for i, (d, prog, best_prog) in enumerate(zip(datas, progs_host, best_progs)):
    def pick(tree, i=i):
      return jax.device_put(jax.tree.map(lambda x: x[i], tree), device)

    def meta(val, p, i=i, d=d):
      return checkpoint_metadata(config_jsons[i], model_cfgs[i], d, digests[id(d)],
                                 n_train, n_val, val, p)

    ckpt_dir = member_dirs[i] / CHECKPOINT_DIR
    best_params, final_params = pick(best_host), pick(final_host)
    best_val = best_prog["best_val_loss"]
    if best_prog["epoch"] == 0:  # never finished an epoch: the initial params
      best_val = best_prog["initial_val_loss"]
    best_meta = meta(best_val, best_prog)
    final_ok = prog["stop_reason"] != "nonfinite"
    opt_state = pick(opt_host) if save_final_state and final_ok else None
    if prog["step"] == best_prog["step"] and final_ok:
      steps = [(prog["step"], final_params, opt_state, best_meta, best_val)]
    else:
      steps = [(best_prog["step"], best_params, None, best_meta, best_val)]
      if opt_state is not None:
        last_val = prog["history"][-1]["val_mse"]
        steps.append((prog["step"], final_params, opt_state, meta(last_val, prog),
                      last_val))
    requests += [(ckpt_dir, *step) for step in steps]
    results.append(TrainResult(
        graphdef=_graphdef(model_cfgs[i]), params=best_params,
        final_params=final_params,
        metadata=_as_json({**best_meta, "step": best_prog["step"],
                           "package_version": mtr_jax.__version__}),
        history=list(prog["history"]), best_val_loss=prog["best_val_loss"],
        best_epoch=prog["best_epoch"], best_step=prog["best_step"],
        initial_val_loss=prog["initial_val_loss"], epochs_run=prog["epoch"],
        stop_reason=prog["stop_reason"], resumed_from_step=None,
        checkpoint_dir=ckpt_dir))
  checkpoint.save_many(requests)
  return results


def _write_summary(workdir: Path, configs, results, timings, place, epochs) -> None:
  if jax.process_index() != 0:
    return
  summary = {
      "members": [{"dir": r.checkpoint_dir.parent.name,
                   "varied": sweep_layout.varied_values(c),
                   "best_val_loss": r.best_val_loss, "best_epoch": r.best_epoch,
                   "epochs_run": r.epochs_run, "stop_reason": r.stop_reason}
                  for c, r in zip(configs, results)],
      "epochs": epochs, "sharded": place.sharded,
      "devices": len(place.member_sharding.device_set), "timings": timings}
  (workdir / "sweep.json").write_text(json.dumps(_as_json(summary), indent=1))
