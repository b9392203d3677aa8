"""Metrics of a router's episodes, per episode and aggregated (numpy only).

`episode_metrics(traj)` turns one Trajectory into a JSON-ready row;
`aggregate_metrics(rows)` pools rows; `evaluate_trajectories` does both, overall
and per task. Definitions (T = the number of steps, a_t the model of step t,
o_t the observation that followed step t):

- score: `final_score`; its mean comes with a 95% bootstrap interval
  (`bootstrap_ci`: percentile method, resampling episodes, seeded).
- success: score >= 100 for an environment (scale -100..100), score >= 1 for
  judged QA (0/1).
- cost: USD of the episode (sum over its steps, plus what a prompted LLM router
  spent deciding, `router_info.policy_cost`); total and mean per episode.
- switch rate of an episode: sum_{t=1}^{T-1} [a_t != a_{t-1}] / (T-1).
  Undefined (None) when T < 2; such episodes are EXCLUDED from the mean switch
  rate (and its interval): `n` episodes are covered, `excluded_short` are not.
- step kind of a step: `extra.simulated.step_kind` of its assistant message (the
  testbed's simulated agent records the kind of the gold step it faced), else
  `step_kind(action, task_name)` of the action parsed from the message, else
  'unknown'.
- task family: `info.task_family`, else `task_family(task_name)`, else 'unknown'.
- normalised turn position of step t: p = t / (T-1) (p = 0 when T = 1), in bin
  min(floor(p * B), B - 1) of B equal bins (the last bin includes p = 1).
- model shares (specialisation), per grouping (step kind, task family,
  position bin): `calls[group][model]`, `model_share[group][model]` =
  P(model | group) and `group_share[model][group]` = P(group | model).
- error behaviour: see `mtr_jax.evaluation.errors`.
"""

from __future__ import annotations

import collections
import math
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from mtr_jax.evaluation.errors import (error_behaviour, error_counts, pool_counts,
                                       rules_for)

ENV_SUCCESS_SCORE = 100.0
QA_SUCCESS_SCORE = 1.0
DEFAULT_N_BOOT = 2000
DEFAULT_POSITION_BINS = 5
UNKNOWN = "unknown"

StepKindFn = Callable[[str, "str | None"], str]
FamilyFn = Callable[[str], str]


# ---------------------------------------------------------------------------
# Small building blocks.


def bootstrap_ci(values, *, n_boot: int = DEFAULT_N_BOOT, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float] | None:
  """Percentile bootstrap interval of the mean: `n_boot` resamples (with
  replacement, as many values as given) drawn by np.random.default_rng(seed);
  the (1-level)/2 and (1+level)/2 quantiles of the resampled means. The values
  are sorted first, so the interval does not depend on their order. Constant
  values give exactly (c, c); no values give None."""
  x = np.asarray(values if isinstance(values, np.ndarray) else list(values),
                 dtype=np.float64).ravel()
  if n_boot < 1:
    raise ValueError(f"n_boot must be >= 1, got {n_boot}")
  if not 0.0 < level < 1.0:
    raise ValueError(f"level must lie in (0, 1), got {level}")
  if x.size == 0:
    return None
  if not np.all(np.isfinite(x)):
    raise ValueError("bootstrap_ci: values must be finite")
  x = np.sort(x)
  if np.all(x == x[0]):
    return float(x[0]), float(x[0])
  rng = np.random.default_rng(seed)
  means = np.empty(n_boot)
  chunk = max(1, 4_000_000 // x.size)  # bounded memory for many episodes
  for start in range(0, n_boot, chunk):
    stop = min(start + chunk, n_boot)
    idx = rng.integers(0, x.size, size=(stop - start, x.size))
    means[start:stop] = x[idx].mean(axis=1)
  alpha = (1.0 - level) / 2.0
  lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
  return float(lo), float(hi)


def mean_ci(values, *, n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> dict:
  """{'mean', 'ci_low', 'ci_high', 'n'}: the mean and its 95% bootstrap
  interval (None entries when there are no values)."""
  x = np.asarray(list(values), dtype=np.float64)
  ci = bootstrap_ci(x, n_boot=n_boot, seed=seed)
  return {"mean": float(x.mean()) if x.size else None,
          "ci_low": ci[0] if ci else None, "ci_high": ci[1] if ci else None,
          "n": int(x.size)}


def switch_rate(models: Sequence[str]) -> float | None:
  """sum_{t>=1} [a_t != a_{t-1}] / (T-1); None for T < 2 (undefined)."""
  models = list(models)
  if len(models) < 2:
    return None
  switches = sum(a != b for a, b in zip(models[1:], models[:-1]))
  return switches / (len(models) - 1)


def position_bin(t: int, n_steps: int, n_bins: int = DEFAULT_POSITION_BINS) -> int:
  """The bin of step t (0-based) of n_steps: min(floor(t/(T-1) * B), B-1),
  computed in integers; 0 when T = 1."""
  if n_bins < 1:
    raise ValueError(f"n_bins must be >= 1, got {n_bins}")
  if not 0 <= t < n_steps:
    raise ValueError(f"step {t} outside an episode of {n_steps} steps")
  if n_steps == 1:
    return 0
  return min((t * n_bins) // (n_steps - 1), n_bins - 1)


def position_labels(n_bins: int = DEFAULT_POSITION_BINS) -> list[str]:
  """Bin names such as '0-0.2', ..., '0.8-1' (the last bin includes 1)."""
  return [f"{i / n_bins:.3g}-{(i + 1) / n_bins:.3g}" for i in range(n_bins)]


def is_success(score: float, benchmark: str) -> bool:
  from mtr_jax.trajectories import QA_BENCHMARKS
  threshold = QA_SUCCESS_SCORE if benchmark in QA_BENCHMARKS else ENV_SUCCESS_SCORE
  return float(score) >= threshold


def default_step_kind(benchmark: str) -> StepKindFn | None:
  """The environment's action classifier for 'scienceworld' and 'twx' (pure
  functions, no JVM); None for other benchmarks."""
  if benchmark == "scienceworld":
    from mtr_jax.envs import scienceworld
    return lambda action, task: scienceworld.step_kind(action)
  if benchmark == "twx":
    from mtr_jax.envs import twx
    return lambda action, task: twx.step_kind(action, task)
  return None


def _simulated(msg: Mapping) -> Mapping:
  extra = msg.get("extra")
  sim = extra.get("simulated") if isinstance(extra, Mapping) else None
  return sim if isinstance(sim, Mapping) else {}


def step_kinds(traj, step_kind: StepKindFn | None = None) -> list[str]:
  """The kind of every step (see the module docstring for the order of sources)."""
  from mtr_jax.agents.simulated import parse_action
  kinds = []
  for step in traj.steps:
    msg = traj.messages[step.message_index]
    kind = _simulated(msg).get("step_kind")
    if not (isinstance(kind, str) and kind):
      action = parse_action(msg.get("content", ""))
      kind = step_kind(action, traj.task_name) if (step_kind and action) else UNKNOWN
    kinds.append(str(kind))
  return kinds


def task_family_of(traj, task_family: FamilyFn | None = None) -> str:
  family = traj.info.get("task_family")
  if isinstance(family, str) and family:
    return family
  if task_family is not None and traj.task_name:
    try:
      return str(task_family(traj.task_name))
    except (KeyError, ValueError):
      return UNKNOWN
  return UNKNOWN


# ---------------------------------------------------------------------------
# One episode.

def policy_cost(traj) -> float:
  """USD the router itself spent in the episode: the `router_info.policy_cost` a
  prompted LLM router logs with each decision (0 for every other router)."""
  total = 0.0
  for msg in traj.messages:
    info = msg.get("router_info") if msg.get("role") == "assistant" else None
    value = info.get("policy_cost") if isinstance(info, Mapping) else None
    if value is not None:
      if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
          math.isfinite(value) and value >= 0):
        where = f"{traj.path}: " if traj.path else ""
        raise ValueError(f"{where}router_info.policy_cost: expected a finite number "
                         f">= 0, got {value!r}")
      total += float(value)
  return total


def episode_metrics(traj, *, error_rules=None, step_kind: StepKindFn | None = None,
                    task_family: FamilyFn | None = None,
                    n_position_bins: int = DEFAULT_POSITION_BINS) -> dict:
  """A JSON-ready row of one episode (a `Trajectory`).

  error_rules: a sequence of ErrorRule, a mapping benchmark -> rules, or None
  (the benchmark's default rules). step_kind(action, task_name) and
  task_family(task_name) are fallbacks for files without the testbed's fields;
  by default the ScienceWorld / TextWorld-Express classifiers where they apply.
  """
  rules = rules_for(error_rules, traj.benchmark)
  if step_kind is None:
    step_kind = default_step_kind(traj.benchmark)
  models = [s.model for s in traj.steps]
  n = len(models)
  observed = [s.observation is not None for s in traj.steps]
  errors = [any(r.matches(s.observation) for r in rules) for s in traj.steps]
  routing_cost = policy_cost(traj)
  outcomes = []
  for s in traj.steps:
    o = _simulated(traj.messages[s.message_index]).get("outcome")
    outcomes.append(o if isinstance(o, str) else None)
  return {
      "task_id": traj.task_id, "task": traj.task_name,
      "variation": traj.variation_idx, "run": traj.info.get("run"),
      "benchmark": traj.benchmark, "family": task_family_of(traj, task_family),
      "score": float(traj.final_score),
      "success": is_success(traj.final_score, traj.benchmark),
      "cost": float(traj.total_cost) + routing_cost, "routing_cost": routing_cost,
      "steps": n, "exit_status": traj.exit_status,
      "simulated": bool(traj.info.get("simulated", False)),
      "switch_rate": switch_rate(models),
      "models": models, "step_costs": [float(s.cost) for s in traj.steps],
      "kinds": step_kinds(traj, step_kind),
      "positions": [position_bin(t, n, n_position_bins) for t in range(n)],
      "position_bins": n_position_bins,
      "errors": error_counts(models, errors, observed, outcomes),
      "path": str(traj.path) if traj.path else None,
  }


# ---------------------------------------------------------------------------
# Aggregates.


def share_table(pairs: Iterable[tuple[str, str]],
                order: Sequence[str] | None = None) -> dict:
  """Calls per (group, model) and both normalisations: `model_share[g][m]` =
  P(model m | group g), `group_share[m][g]` = P(group g | model m). `order`
  fixes the group order (groups without calls are left out)."""
  calls: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  for group, model in pairs:
    calls[group][model] += 1
  groups = [g for g in (order or sorted(calls)) if g in calls]
  per_model: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  for g in groups:
    for m, k in calls[g].items():
      per_model[m][g] += k
  return {
      "calls": {g: dict(sorted(calls[g].items())) for g in groups},
      "model_share": {g: {m: k / sum(calls[g].values())
                          for m, k in sorted(calls[g].items())} for g in groups},
      "group_share": {m: {g: per_model[m][g] / sum(per_model[m].values())
                          for g in groups if per_model[m][g]}
                      for m in sorted(per_model)},
  }


def aggregate_metrics(rows: Sequence[Mapping], *, n_boot: int = DEFAULT_N_BOOT,
                      seed: int = 0, n_position_bins: int | None = None) -> dict:
  """Pools episode rows (see the module docstring). The rows must share one
  number of position bins (checked against n_position_bins when given)."""
  rows = list(rows)
  if not rows:
    return {"episodes": 0}
  scores = [r["score"] for r in rows]
  costs = [r["cost"] for r in rows]
  steps = np.array([r["steps"] for r in rows])
  rates = [r["switch_rate"] for r in rows if r["switch_rate"] is not None]
  usage: collections.Counter = collections.Counter()
  model_cost: dict[str, float] = collections.defaultdict(float)
  for r in rows:
    for m, c in zip(r["models"], r["step_costs"]):
      usage[m] += 1
      model_cost[m] += c
  calls = sum(usage.values())
  bins = {r["position_bins"] for r in rows}
  if n_position_bins is not None:
    bins.add(n_position_bins)
  if len(bins) != 1:
    raise ValueError(f"episode rows use different numbers of position bins {sorted(bins)}")
  n_position_bins = bins.pop()
  labels = position_labels(n_position_bins)
  counts = pool_counts(r["errors"] for r in rows)
  with_err = [r for r in rows if r["errors"]["error_observations"]]
  without = [r for r in rows if not r["errors"]["error_observations"]]
  switch = mean_ci(rates, n_boot=n_boot, seed=seed)
  switch["excluded_short"] = len(rows) - len(rates)  # T < 2: undefined
  cost = mean_ci(costs, n_boot=n_boot, seed=seed)
  cost["total"] = math.fsum(costs)
  return {
      "episodes": len(rows),
      "score": mean_ci(scores, n_boot=n_boot, seed=seed),
      "success_rate": float(np.mean([bool(r["success"]) for r in rows])),
      "cost": cost,
      "steps": {"mean": float(steps.mean()), "total": int(steps.sum()),
                "min": int(steps.min()), "max": int(steps.max())},
      "exit_statuses": dict(collections.Counter(r["exit_status"] for r in rows)),
      "switch_rate": switch,
      "model_usage": {m: {"calls": k, "share": k / calls, "cost": model_cost[m]}
                      for m, k in usage.most_common()},
      "specialisation": {
          "by_step_kind": share_table(
              (k, m) for r in rows for k, m in zip(r["kinds"], r["models"])),
          "by_task_family": share_table(
              (r["family"], m) for r in rows for m in r["models"]),
          "by_position": share_table(
              ((labels[p], m) for r in rows for p, m in zip(r["positions"], r["models"])),
              order=labels),
      },
      "error_behaviour": error_behaviour(
          counts, len(with_err), sum(bool(r["success"]) for r in with_err),
          len(without), sum(bool(r["success"]) for r in without)),
  }


def evaluate_trajectories(trajectories: Iterable, *, error_rules=None,
                          step_kind: StepKindFn | None = None,
                          task_family: FamilyFn | None = None,
                          n_position_bins: int = DEFAULT_POSITION_BINS,
                          n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> dict:
  """{'overall', 'per_task', 'episodes'}: the aggregate of every episode, of
  each task's episodes, and the episode rows themselves."""
  rows = [episode_metrics(t, error_rules=error_rules, step_kind=step_kind,
                          task_family=task_family, n_position_bins=n_position_bins)
          for t in trajectories]
  by_task: dict[str, list] = collections.defaultdict(list)
  for r in rows:
    by_task[r["task"] or UNKNOWN].append(r)
  agg = dict(n_boot=n_boot, seed=seed, n_position_bins=n_position_bins)
  return {"overall": aggregate_metrics(rows, **agg),
          "per_task": {t: aggregate_metrics(rs, **agg) for t, rs in sorted(by_task.items())},
          "episodes": rows}
