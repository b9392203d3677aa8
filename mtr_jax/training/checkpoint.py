"""Estimator checkpoints: the only module that calls Orbax.

Layout: one `ocp.CheckpointManager` per run directory (the trainer uses
`workdir/checkpoints`); each saved step is a composite item

  checkpoints/<step>/params/      PyTree   nnx.State of the estimator
  checkpoints/<step>/opt_state/   PyTree   optax state (may be absent: params-only)
  checkpoints/<step>/metadata/    JSON     config, pool, feature statistics, encoder
                                           fingerprint, lambda, version, progress
  checkpoints/<step>/metrics/     JSON     {"val_loss", "step"}, what "best" ranks by

The manager preserves two steps at most: the LATEST one (resume) and the BEST one
(lowest `val_loss`; the earliest step on ties), which may be the same step. Steps
saved without a `val_loss` are never "best"; `best_step` then falls back to the
latest. Saves are synchronous, so a step directory exists once `save` returns;
Orbax writes each step into a `<step>.orbax-checkpoint-tmp-*` directory and
renames it when complete, so a run killed mid-save leaves a tmp directory that is
ignored (and removed by the next `save`).

Every failure to find or read a checkpoint raises `CheckpointError`, naming the
path: a missing directory, a directory without checkpoints, an unfinished (tmp)
or partial step (an item missing), unreadable files, and an encoder fingerprint
that differs from the caller's.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any, Mapping

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

import mtr_jax
from mtr_jax.estimator.model import Estimator, EstimatorConfig

PARAMS, OPT_STATE, METADATA = "params", "opt_state", "metadata"
TMP_MARKER = ".orbax-checkpoint-tmp"
_STEP_DIR = re.compile(r"^\d+$")
_policies = ocp.checkpoint_managers


class CheckpointError(RuntimeError):
  """A checkpoint is missing, unfinished, partial, unreadable or does not match."""


def _rank(metrics: Mapping[str, Any]):
  # Lower is better; ties go to the earlier step.
  return (float(metrics["val_loss"]), int(metrics["step"]))


def _options(read_only: bool) -> ocp.CheckpointManagerOptions:
  keep = _policies.AnyPreservationPolicy([
      _policies.LatestN(n=1),
      _policies.BestN(get_metric_fn=_rank, reverse=True, n=1,
                      keep_checkpoints_without_metrics=False)])
  return ocp.CheckpointManagerOptions(
      best_fn=_rank, best_mode="min", keep_checkpoints_without_metrics=False,
      preservation_policy=keep, enable_async_checkpointing=False,
      save_interval_steps=0 if read_only else 1, read_only=read_only,
      create=not read_only, cleanup_tmp_directories=not read_only)


def _manager(directory: Path, read_only: bool) -> ocp.CheckpointManager:
  absl_logger = logging.getLogger("absl")
  level = absl_logger.level
  absl_logger.setLevel(logging.ERROR)  # read-only managers warn on every open
  try:
    return ocp.CheckpointManager(directory, options=_options(read_only))
  finally:
    absl_logger.setLevel(level)


def _reader(directory: str | Path) -> ocp.CheckpointManager:
  directory = Path(directory).absolute()  # Orbax wants absolute paths
  if not directory.exists():
    raise CheckpointError(f"no checkpoint directory at {directory}")
  if not directory.is_dir():
    raise CheckpointError(f"{directory} is not a directory")
  return _manager(directory, read_only=True)


def _unfinished(directory: Path) -> list[str]:
  return sorted(p.name for p in directory.iterdir() if TMP_MARKER in p.name)


def _json_safe(metadata: Mapping[str, Any]) -> dict[str, Any]:
  try:
    return json.loads(json.dumps(dict(metadata), allow_nan=False))
  except (TypeError, ValueError) as e:
    raise CheckpointError(f"checkpoint metadata is not plain JSON: {e}") from e


# ---------------------------------------------------------------------------
# Saving.


def save(directory: str | Path, step: int, params, opt_state,
         metadata: Mapping[str, Any], *, val_loss: float | None = None) -> Path:
  """Saves one step; returns its directory. `opt_state=None` saves params only.

  metadata: a JSON-able dict; `step` and `package_version` are filled in.
  val_loss: what "best" ranks by (lower is better); None: never the best step.
  Older steps that are neither the latest nor the best are deleted.
  """
  return save_many([(directory, step, params, opt_state, metadata, val_loss)])[0]


def _save_args(step: int, params, opt_state, metadata: Mapping[str, Any],
               val_loss: float | None):
  meta = _json_safe({**metadata, "step": step, "package_version": mtr_jax.__version__})
  items = {PARAMS: ocp.args.PyTreeSave(params), METADATA: ocp.args.JsonSave(meta)}
  if opt_state is not None:
    items[OPT_STATE] = ocp.args.PyTreeSave(opt_state)
  metrics = None
  if val_loss is not None:
    if not math.isfinite(float(val_loss)):
      raise CheckpointError(f"val_loss must be finite to rank checkpoints, "
                            f"got {val_loss}")
    metrics = {"val_loss": float(val_loss), "step": step}
  return ocp.args.Composite(**items), metrics


def save_many(requests) -> list[Path]:
  """Several saves at once: requests are (directory, step, params, opt_state,
  metadata, val_loss) tuples as `save` takes them. Every save is started (Orbax
  writes asynchronously) before any is waited for, so N small checkpoints (a
  sweep's members) overlap instead of paying Orbax's fixed cost one after another.
  Saves to one directory keep their order. Returns the step directories."""
  requests = [(Path(d).absolute(), int(step), *rest) for d, step, *rest in requests]
  managers: dict[Path, ocp.CheckpointManager] = {}
  out = []
  try:
    for directory, step, params, opt_state, metadata, val_loss in requests:
      args, metrics = _save_args(step, params, opt_state, metadata, val_loss)
      where = f"step {step} in {directory}"
      try:
        manager = managers.get(directory)
        if manager is None:
          manager = managers[directory] = _manager(directory, read_only=False)
        saved = manager.save(step, args=args, metrics=metrics)
      except Exception as e:  # noqa: BLE001 (Orbax raises many types)
        raise CheckpointError(f"could not save {where}: {type(e).__name__}: {e}") from e
      if not saved:
        raise CheckpointError(f"Orbax declined to save {where}")
      out.append(directory / str(step))
    for directory, manager in managers.items():
      try:
        manager.wait_until_finished()
      except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"could not finish saving in {directory}: "
                              f"{type(e).__name__}: {e}") from e
  finally:
    for manager in managers.values():
      manager.close()
  return out


# ---------------------------------------------------------------------------
# Finding steps.


def all_steps(directory: str | Path) -> list[int]:
  """Finished steps in `directory` (tmp directories of unfinished saves excluded)."""
  with _reader(directory) as manager:
    return sorted(manager.all_steps())


def latest_step(directory: str | Path) -> int | None:
  """The newest finished step, or None (also when the directory does not exist)."""
  if not Path(directory).is_dir():
    return None
  with _reader(directory) as manager:
    return manager.latest_step()


def best_step(directory: str | Path) -> int | None:
  """The step with the lowest val_loss (the latest step if none has one), or None."""
  if not Path(directory).is_dir():
    return None
  with _reader(directory) as manager:
    ranked = [s for s in manager.all_steps() if manager.metrics(s) is not None]
    return manager.best_step() if ranked else manager.latest_step()


def _require_steps(directory: Path, manager: ocp.CheckpointManager) -> None:
  if manager.latest_step() is None:
    tmp = _unfinished(directory)
    extra = f"; only unfinished saves: {tmp}" if tmp else ""
    raise CheckpointError(f"no finished checkpoint in {directory}{extra}")


def _check_items(step_dir: Path, needed: tuple[str, ...]) -> None:
  if TMP_MARKER in step_dir.name:
    raise CheckpointError(f"{step_dir} is an unfinished checkpoint (Orbax tmp "
                          f"directory of an interrupted save)")
  if not step_dir.is_dir():
    raise CheckpointError(f"no checkpoint step directory at {step_dir}")
  present = sorted(p.name for p in step_dir.iterdir())
  for item in needed:
    item_dir = step_dir / item
    if not item_dir.is_dir() or not any(item_dir.iterdir()):
      raise CheckpointError(f"partial checkpoint {step_dir}: item '{item}' is missing "
                            f"or empty (found {present})")


def _resolve(path: str | Path) -> tuple[Path, int | None]:
  """(manager directory, step) for a manager directory, a workdir holding
  `checkpoints/`, or one step directory."""
  path = Path(path).absolute()  # Orbax wants absolute paths
  if TMP_MARKER in path.name:
    raise CheckpointError(f"{path} is an unfinished checkpoint (Orbax tmp directory "
                          f"of an interrupted save)")
  if not path.exists():
    raise CheckpointError(f"no checkpoint directory at {path}")
  if _STEP_DIR.match(path.name) and (
      (path / METADATA).exists() or (path / PARAMS).exists()
      or (path / "_CHECKPOINT_METADATA").exists()):
    return path.parent, int(path.name)
  if (path / "checkpoints").is_dir():
    path = path / "checkpoints"
  return path, None


def _pick(directory: Path, manager: ocp.CheckpointManager, step: int | None,
          which: str) -> int:
  _require_steps(directory, manager)
  if step is not None:
    if step not in manager.all_steps():
      raise CheckpointError(f"no finished step {step} in {directory} "
                            f"(steps: {sorted(manager.all_steps())})")
    return step
  if which == "latest":
    return manager.latest_step()
  ranked = [s for s in manager.all_steps() if manager.metrics(s) is not None]
  return manager.best_step() if ranked else manager.latest_step()


# ---------------------------------------------------------------------------
# Restoring.


def _restore(manager: ocp.CheckpointManager, step_dir: Path, step: int,
             items: Mapping[str, Any], what: str):
  try:
    return manager.restore(step, args=ocp.args.Composite(**items))
  except CheckpointError:
    raise
  except Exception as e:  # noqa: BLE001 (Orbax and TensorStore raise many types)
    raise CheckpointError(f"could not read {what} of checkpoint {step_dir} (corrupt "
                          f"or incompatible files?): {type(e).__name__}: {e}") from e


def _read_metadata(manager, step_dir: Path, step: int,
                   expected_fingerprint: Mapping[str, Any] | None) -> dict[str, Any]:
  meta = _restore(manager, step_dir, step, {METADATA: ocp.args.JsonRestore()},
                  METADATA)[METADATA]
  if not isinstance(meta, dict):
    raise CheckpointError(f"checkpoint {step_dir}: metadata is not a JSON object "
                          f"({type(meta).__name__})")
  if expected_fingerprint is not None:
    expected = json.loads(json.dumps(dict(expected_fingerprint)))
    stored = meta.get("encoder_fingerprint")
    if stored != expected:
      raise CheckpointError(
          f"checkpoint {step_dir} was trained on embeddings of another encoder:\n"
          f"  checkpoint encoder_fingerprint: {json.dumps(stored, sort_keys=True)}\n"
          f"  caller's encoder_fingerprint:   {json.dumps(expected, sort_keys=True)}")
  return meta


def read_metadata(path: str | Path, *, step: int | None = None, which: str = "best",
                  expected_fingerprint: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
  """The JSON metadata of one step (default: the best step) without any arrays."""
  directory, step_from_path = _resolve(path)
  with _reader(directory) as manager:
    step = _pick(directory, manager,
                 step if step is not None else step_from_path, which)
    step_dir = directory / str(step)
    _check_items(step_dir, (METADATA,))
    return _read_metadata(manager, step_dir, step, expected_fingerprint)


def _abstract(tree, default_sharding: jax.sharding.Sharding):
  """ShapeDtypeStructs (with a sharding) for a tree of arrays or ShapeDtypeStructs."""

  def leaf(x):
    sharding = getattr(x, "sharding", None)
    if not isinstance(sharding, jax.sharding.Sharding):
      sharding = default_sharding
    return jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=sharding)

  return jax.tree.map(leaf, tree)


def _pytree_restore(abstract_tree) -> ocp.args.PyTreeRestore:
  return ocp.args.PyTreeRestore(
      item=abstract_tree,
      restore_args=ocp.checkpoint_utils.construct_restore_args(abstract_tree))


def restore_for_training(directory: str | Path, abstract_params, abstract_opt_state, *,
                         step: int | None = None,
                         expected_fingerprint: Mapping[str, Any] | None = None):
  """(params, opt_state, metadata) of the latest step (or `step`).

  abstract_params / abstract_opt_state: trees of the right structure whose leaves
  are arrays or jax.ShapeDtypeStructs (e.g. freshly initialised state); restored
  arrays take their shardings (the default device when a leaf has none).
  """
  directory = Path(directory).absolute()  # Orbax wants absolute paths
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  with _reader(directory) as manager:
    step = _pick(directory, manager, step, "latest")
    step_dir = directory / str(step)
    _check_items(step_dir, (PARAMS, OPT_STATE, METADATA))
    meta = _read_metadata(manager, step_dir, step, expected_fingerprint)
    arrays = _restore(manager, step_dir, step, {
        PARAMS: _pytree_restore(_abstract(abstract_params, device)),
        OPT_STATE: _pytree_restore(_abstract(abstract_opt_state, device)),
    }, "params/opt_state")
  return arrays[PARAMS], arrays[OPT_STATE], meta


def estimator_config(metadata: Mapping[str, Any]) -> EstimatorConfig:
  """The EstimatorConfig saved in checkpoint metadata: `estimator_config`, else
  the training config's `config.model`."""
  try:
    if "estimator_config" in metadata:
      return EstimatorConfig.from_dict(metadata["estimator_config"])
    return EstimatorConfig.from_dict(metadata["config"]["model"])
  except (KeyError, TypeError, ValueError) as e:
    raise CheckpointError(f"checkpoint metadata has no usable estimator config: "
                          f"{type(e).__name__}: {e}") from e


def abstract_estimator(metadata: Mapping[str, Any]):
  """(graphdef, abstract params) of the estimator described by checkpoint metadata;
  no weights are initialised."""
  config = estimator_config(metadata)
  model = nnx.eval_shape(lambda: Estimator(config, rngs=nnx.Rngs(0)))
  return nnx.split(model)


def restore_for_inference(path: str | Path, *, which: str = "best",
                          expected_fingerprint: Mapping[str, Any] | None = None):
  """(params, metadata) on the CPU, without the optimiser state.

  path: a checkpoint directory (the best step, or the latest with which="latest"),
  a workdir holding `checkpoints/`, or one step directory. The parameter tree is
  rebuilt from the saved `config.model`; no config object is needed.
  Use `abstract_estimator(metadata)[0]` for the graphdef.
  """
  if which not in ("best", "latest"):
    raise ValueError(f"which: expected 'best' or 'latest', got {which!r}")
  directory, step = _resolve(path)
  cpu = jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0])
  with _reader(directory) as manager:
    step = _pick(directory, manager, step, which)
    step_dir = directory / str(step)
    _check_items(step_dir, (PARAMS, METADATA))
    meta = _read_metadata(manager, step_dir, step, expected_fingerprint)
    _, abstract_params = abstract_estimator(meta)
    params = _restore(manager, step_dir, step, {
        PARAMS: _pytree_restore(_abstract(abstract_params, cpu))}, PARAMS)[PARAMS]
  return params, meta


def load_estimator(path: str | Path, *, which: str = "best",
                   expected_fingerprint: Mapping[str, Any] | None = None):
  """(graphdef, params, metadata): everything scoring needs, from a checkpoint."""
  params, meta = restore_for_inference(path, which=which,
                                       expected_fingerprint=expected_fingerprint)
  graphdef, _ = abstract_estimator(meta)
  return graphdef, params, meta
