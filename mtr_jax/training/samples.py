"""Training samples from trajectories, and the validation split grouped by episode.

One sample per assistant step (routed LLM call): the state is every message
before it (`Trajectory.history(step)`), the action is the pool index of the
model that wrote it, the target is y_t of `mtr_jax.training.targets`.

Skipped steps (no sample) still belong to the episode: their cost and their
error cost count in the remaining sums of the steps before them.
- a failed call (`Step.error` set);
- a step whose model is not in the pool (`resolve_model` gives None).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from mtr_jax.training.targets import (DEFAULT_EXPECTED_STEPS, ErrorRule,
                                      TrainingDataError, annealed_error_costs,
                                      check_cost_scale, default_error_rules,
                                      episode_source, error_severities,
                                      mean_episode_cost, normalised_score,
                                      reverse_cumsum, step_targets)
from mtr_jax.trajectories import resolve_model

_ARRAYS = {  # field -> dtype of the per-sample arrays
    "action": np.int32, "target": np.float32, "weight": np.float32,
    "propensity": np.float32, "episode": np.int32, "turn": np.int32,
    "step_cost": np.float32, "remaining_cost": np.float32,
    "error_cost": np.float32, "has_error": np.bool_, "score": np.float32,
}


@dataclasses.dataclass
class Samples:
  """Training samples (N of them) as parallel arrays.

  history: the state x_t of each sample, the messages before its assistant
    message (list of N message lists, shared with the trajectories: do not edit).
  action: int32 [N], index of the model in `pool_names`.
  target: float32 [N], y_t.
  weight: float32 [N], 1, or 1/propensity (clipped at max_weight) with IPW.
  propensity: float32 [N], as recorded (1.0 when not recorded).
  episode: int32 [N], index into `episode_ids` / `episode_benchmarks`.
  turn: int32 [N], position of the step among all steps of its episode.
  step_cost: float32 [N], USD of the call.
  remaining_cost: float32 [N], sum_{i>=t} c_i / cost_scale (skipped steps included).
  error_cost: float32 [N], sum_{i>=t} rho_i (0 without AEC).
  has_error: bool [N], the observation after the step matched an error rule.
  score: float32 [N], S_norm of the episode.
  episode_ids: one per episode (file path, else task_id).
  episode_benchmarks: one per episode.
  pool_names: the pool's model names (the meaning of `action`).
  cost_scale: benchmark -> mean training episode cost used for normalising.
  lam: the cost weight lambda of the targets.
  skipped_out_of_pool: model name (as in the file) -> number of skipped steps.
  skipped_failed: number of skipped failed calls.
  """

  history: list[list[dict[str, Any]]]
  action: np.ndarray
  target: np.ndarray
  weight: np.ndarray
  propensity: np.ndarray
  episode: np.ndarray
  turn: np.ndarray
  step_cost: np.ndarray
  remaining_cost: np.ndarray
  error_cost: np.ndarray
  has_error: np.ndarray
  score: np.ndarray
  episode_ids: list[str]
  episode_benchmarks: list[str]
  pool_names: tuple[str, ...]
  cost_scale: dict[str, float]
  lam: float
  skipped_out_of_pool: dict[str, int] = dataclasses.field(default_factory=dict)
  skipped_failed: int = 0

  def __post_init__(self):
    n = len(self.history)
    for name, dtype in _ARRAYS.items():
      arr = np.asarray(getattr(self, name), dtype=dtype)
      if arr.shape != (n,):
        raise ValueError(f"Samples.{name}: expected shape ({n},), got {arr.shape}")
      setattr(self, name, arr)
    if len(self.episode_benchmarks) != len(self.episode_ids):
      raise ValueError(f"Samples.episode_benchmarks: {len(self.episode_benchmarks)} "
                       f"entries for {len(self.episode_ids)} episodes")
    if n and (self.episode.min() < 0 or self.episode.max() >= len(self.episode_ids)):
      raise ValueError("Samples.episode: index outside episode_ids")
    if n and (self.action.min() < 0 or self.action.max() >= len(self.pool_names)):
      raise ValueError("Samples.action: index outside pool_names")

  def __len__(self) -> int:
    return len(self.history)

  @property
  def n_skipped(self) -> int:
    return self.skipped_failed + sum(self.skipped_out_of_pool.values())

  def subset(self, idx) -> "Samples":
    """The samples at `idx` (indices or a boolean mask); episode tables, pool,
    cost scale and skip counts are kept as they are."""
    idx = np.asarray(idx)
    if idx.dtype == np.bool_:
      if idx.shape != (len(self),):
        raise ValueError(f"subset: boolean mask of shape {idx.shape} for "
                         f"{len(self)} samples")
      idx = np.flatnonzero(idx)
    idx = idx.astype(np.int64).reshape(-1)
    arrays = {name: getattr(self, name)[idx] for name in _ARRAYS}
    return dataclasses.replace(self, history=[self.history[i] for i in idx], **arrays)

  def report(self) -> str:
    """One line: samples, episodes, skipped steps."""
    skipped = ", ".join(f"{m}: {c}" for m, c in sorted(self.skipped_out_of_pool.items()))
    return (f"{len(self)} samples from {len(self.episode_ids)} episodes; skipped "
            f"{self.skipped_failed} failed calls and "
            f"{sum(self.skipped_out_of_pool.values())} steps of models outside the pool"
            + (f" ({skipped})" if skipped else ""))


def _expected(expected_steps, traj, source: str) -> int:
  n = expected_steps(traj) if callable(expected_steps) else expected_steps
  if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
    raise TrainingDataError(f"{source}: expected_steps: expected a positive integer "
                            f"for task {traj.task_name or traj.task_id!r}, got {n!r}")
  return int(n)


def build_samples(trajectories: Iterable, pool, *, lam: float = 1.0,
                  cost_scale: Mapping[str, float] | None = None, aec: bool = True,
                  expected_steps: int | Callable[[Any], int] = DEFAULT_EXPECTED_STEPS,
                  ipw: bool = False, max_weight: float | None = None,
                  error_rules: Mapping[str, Sequence[ErrorRule]] | None = None
                  ) -> Samples:
  """Samples of every assistant step of `trajectories` whose model is in `pool`.

  lam: cost weight lambda (>= 0).
  cost_scale: benchmark -> mean episode cost of the TRAINING episodes; None
    computes it from `trajectories` (so pass the train set's scale when building
    validation or test samples).
  aec: subtract the annealed error costs (else rho = 0).
  expected_steps: N of the AEC, one int or a function of the Trajectory.
  ipw: weight = 1/propensity, clipped at `max_weight` when given; else 1.
  error_rules: benchmark -> rules, replacing `default_error_rules` for the
    benchmarks it names.
  """
  trajectories = list(trajectories)
  if not math.isfinite(float(lam)) or lam < 0:
    raise TrainingDataError(f"lam: expected a finite non-negative number, got {lam!r}")
  if max_weight is not None and not (math.isfinite(float(max_weight)) and max_weight >= 1):
    raise TrainingDataError(f"max_weight: expected a finite number >= 1 (or None), "
                            f"got {max_weight!r}")
  if cost_scale is None:
    cost_scale = mean_episode_cost(trajectories)
  cost_scale = check_cost_scale(cost_scale)
  rules_by_bench = dict(error_rules or {})
  pool_names = tuple(pool.names)
  resolved: dict[str, int | None] = {}

  cols: dict[str, list] = {name: [] for name in _ARRAYS}
  history: list[list[dict[str, Any]]] = []
  episode_ids: list[str] = []
  episode_benchmarks: list[str] = []
  skipped_out_of_pool: dict[str, int] = {}
  skipped_failed = 0

  for e, traj in enumerate(trajectories):
    source = episode_source(traj, e)
    bench = traj.benchmark
    if bench not in cost_scale:
      raise TrainingDataError(f"{source}: info.benchmark: no cost scale for benchmark "
                              f"{bench!r} (cost_scale has {sorted(cost_scale)}; the "
                              "training episodes must cover every benchmark)")
    try:
      s_norm = normalised_score(traj.final_score, bench)
    except ValueError as err:
      raise TrainingDataError(f"{source}: info.{err}") from None
    episode_ids.append(str(traj.path) if traj.path else str(traj.task_id))
    episode_benchmarks.append(bench)
    steps = traj.steps
    if not steps:
      continue

    rules = rules_by_bench.get(bench)
    if rules is None:
      rules = default_error_rules(bench)
    severity = error_severities((s.observation for s in steps), rules)
    has_error = severity > 0
    if aec:
      rho = annealed_error_costs(has_error, _expected(expected_steps, traj, source),
                                 severity)
    else:
      rho = np.zeros(len(steps))
    costs = np.asarray([s.cost for s in steps], dtype=np.float64)
    y = step_targets(s_norm, costs, rho, lam, cost_scale[bench])
    c_rem = reverse_cumsum(costs) / cost_scale[bench]
    err_rem = reverse_cumsum(rho)

    for t, step in enumerate(steps):
      if step.error is not None:
        skipped_failed += 1
        continue
      if step.model not in resolved:
        name = resolve_model(pool, step.model)
        resolved[step.model] = None if name is None else pool.index(name)
      action = resolved[step.model]
      if action is None:
        skipped_out_of_pool[step.model] = skipped_out_of_pool.get(step.model, 0) + 1
        continue
      weight = 1.0
      if ipw:
        weight = 1.0 / step.propensity
        if max_weight is not None:
          weight = min(weight, float(max_weight))
      history.append(traj.history(step))
      cols["action"].append(action)
      cols["target"].append(y[t])
      cols["weight"].append(weight)
      cols["propensity"].append(step.propensity)
      cols["episode"].append(e)
      cols["turn"].append(step.turn)
      cols["step_cost"].append(step.cost)
      cols["remaining_cost"].append(c_rem[t])
      cols["error_cost"].append(err_rem[t])
      cols["has_error"].append(has_error[t])
      cols["score"].append(s_norm)

  arrays = {name: np.asarray(values, dtype=_ARRAYS[name]).reshape(-1)
            for name, values in cols.items()}
  return Samples(history=history, episode_ids=episode_ids,
                 episode_benchmarks=episode_benchmarks, pool_names=pool_names,
                 cost_scale=cost_scale, lam=float(lam),
                 skipped_out_of_pool=skipped_out_of_pool,
                 skipped_failed=skipped_failed, **arrays)


def split_by_group(group_N: np.ndarray, val_fraction: float = 0.1,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """(train_idx, val_idx), sorted int64 indices; no group on both sides.

  The distinct group ids are sorted and shuffled with `seed`, so the split depends
  only on the set of groups and the seed, not on the order the samples came in.
  round(val_fraction * groups) groups go to validation, at least one and at most
  all but one when val_fraction > 0.
  """
  if not 0.0 <= float(val_fraction) < 1.0:
    raise ValueError(f"val_fraction: expected a number in [0, 1), got {val_fraction!r}")
  group_N = np.asarray(group_N)
  n = group_N.shape[0]
  if val_fraction == 0 or n == 0:
    return np.arange(n, dtype=np.int64), np.zeros(0, dtype=np.int64)
  groups = np.unique(group_N)
  if len(groups) < 2:
    raise ValueError(f"split_by_episode: need at least 2 episodes for a validation "
                     f"split, the samples come from {len(groups)}")
  n_val = min(max(int(round(val_fraction * len(groups))), 1), len(groups) - 1)
  order = np.random.default_rng(seed).permutation(len(groups))
  is_val = np.isin(group_N, groups[order[:n_val]])
  return np.flatnonzero(~is_val).astype(np.int64), np.flatnonzero(is_val).astype(np.int64)


def split_by_episode(samples: Samples, val_fraction: float = 0.1,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """`split_by_group` over the samples' episode ids (file path, else task_id), so
  two entries with the same id stay together."""
  ids = np.asarray(samples.episode_ids, dtype=str)[samples.episode]
  return split_by_group(ids, val_fraction, seed)
