"""Run one router on a split (or explicit task refs) and write `results.json`.

`evaluate` collects the episodes with `mtr_jax.rollout.collect.collect` (so a
rerun skips finished episodes and only fills gaps), then computes every metric
of `mtr_jax.evaluation.metrics` overall and per task from exactly the planned
episodes' files, and writes OUT/results.json. `evaluate_folder` computes the
same metrics from trajectories already on disk.

Router specs (`parse_router`), optionally followed by `,key=value` options
that set RouterSpec fields (seed, policy, epsilon, temperature, beta, lam):
  model:<name>        one model of the pool every turn (a single-model baseline;
                      the name may omit the provider, e.g. model:gpt-5)
  random | roulette   uniform over the pool every turn
  checkpoint:<path>   the learned router, greedy (policy=... to change; lam=...
                      picks the cost weight of a two-head estimator)
  learned:<path>      the same
  mixed:<path>        the Stage-B beta-mixed policy (beta=0.5 unless given)
  baseline:<path>     a baseline router fitted by `mtr-jax fit-baseline`
                      (overrides=k=v;k=v for routing-time settings)
A `RouterSpec` instance is accepted as well.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Sequence

from mtr_jax.evaluation.metrics import (DEFAULT_N_BOOT, DEFAULT_POSITION_BINS,
                                        evaluate_trajectories)

RESULTS_FILE = "results.json"
SIMULATED_LABEL = ("simulated-agent testbed results: the 'models' are simulated "
                   "agents with calibrated profiles, no LLM was called")
REAL_LABEL = "includes real-LLM calls"
ENV_LIMITS = {"scienceworld": (50, 2.0), "twx": (30, 1.0)}


@dataclasses.dataclass(frozen=True)
class RouterChoice:
  """A parsed router spec: collect()'s mode, its RouterSpec, and the model of a
  single-model baseline (mode 'baseline')."""

  text: str
  mode: str
  spec: object  # mtr_jax.rollout.collect.RouterSpec
  model: str | None = None

  def to_dict(self) -> dict:
    return {"spec": self.text, "mode": self.mode, "model": self.model,
            "router": dataclasses.asdict(self.spec) if self.mode != "baseline" else None}


def _options(text: str, fields: set[str]) -> tuple[str, dict]:
  """Splits trailing ',key=value' options (RouterSpec fields) off a spec."""
  parts = text.split(",")
  opts: dict[str, str] = {}
  while len(parts) > 1 and "=" in parts[-1] and parts[-1].split("=", 1)[0].strip() in fields:
    key, value = parts.pop().split("=", 1)
    opts[key.strip()] = value.strip()
  if len(parts) > 1 and all("=" in p for p in parts[1:]):
    bad = [p.split("=", 1)[0] for p in parts[1:]]
    raise ValueError(f"router spec {text!r}: unknown option(s) {bad} "
                     f"(known: {sorted(fields - {'mode', 'checkpoint'})})")
  return ",".join(parts), opts


def parse_router(router, pool=None) -> RouterChoice:
  """A RouterChoice from a spec string (module docstring) or a RouterSpec.
  With `pool` (a Pool), a model name is resolved to the pool's spelling."""
  from mtr_jax.rollout.collect import RouterSpec
  if isinstance(router, RouterSpec):
    return RouterChoice(f"{router.mode}", router.mode, router)
  if not isinstance(router, str) or not router.strip():
    raise ValueError(f"router: expected a spec string or a RouterSpec, got {router!r}")
  fields = {f.name for f in dataclasses.fields(RouterSpec)}
  head, opts = _options(router.strip(), fields)
  types = {f.name: f.type for f in dataclasses.fields(RouterSpec)}
  kwargs: dict = {}
  for key, value in opts.items():
    if key in ("mode", "checkpoint"):
      raise ValueError(f"router spec {router!r}: set {key} through the spec's prefix")
    kind = types[key] if isinstance(types[key], str) else types[key].__name__
    kind = kind.replace(" | None", "")
    try:
      kwargs[key] = int(value) if kind == "int" else float(value) if kind == "float" else value
    except ValueError:
      raise ValueError(f"router spec {router!r}: option {key}={value!r} is not "
                       f"a valid {kind}") from None
  kind, _, arg = head.partition(":")
  if kind == "model":
    if not arg:
      raise ValueError(f"router spec {router!r}: model:<name> needs a model name")
    name = arg
    if pool is not None:
      from mtr_jax.trajectories import resolve_model
      name = resolve_model(pool, arg) or arg
      pool[name]  # a clear KeyError for an unknown model
    return RouterChoice(router, "baseline", RouterSpec(mode="roulette", **kwargs), name)
  if kind in ("random", "roulette") and not arg:
    return RouterChoice(router, "roulette", RouterSpec(mode="roulette", **kwargs))
  if kind in ("checkpoint", "learned", "mixed"):
    if not arg:
      raise ValueError(f"router spec {router!r}: {kind}:<path> needs a checkpoint path")
    mode = "mixed" if kind == "mixed" else "learned"
    return RouterChoice(router, mode, RouterSpec(mode=mode, checkpoint=arg, **kwargs))
  if kind == "baseline":
    if not arg:
      raise ValueError(f"router spec {router!r}: baseline:<path> needs a fitted router folder")
    return RouterChoice(router, "router", RouterSpec(mode="router", checkpoint=arg, **kwargs))
  raise ValueError(f"unknown router spec {router!r}; expected model:<name>, random, "
                   "checkpoint:<path>, learned:<path>, mixed:<path> or baseline:<path> "
                   "(options: ,seed=..,policy=..,epsilon=..,temperature=..,beta=..,lam=..,"
                   "overrides=k=v;k=v)")


def default_limits(env: str):
  """The reference's limits: ScienceWorld 50 steps / $2, TWX 30 / $1, else 50 / $2."""
  from mtr_jax.rollout.episode import Limits
  steps, cost = ENV_LIMITS.get(env, (50, 2.0))
  return Limits(step_limit=steps, cost_limit=cost)


def resolve_refs(env: str, split, *, tasks: Sequence[str] | None = None,
                 max_variations: int | None = None) -> tuple[str | None, list]:
  """(split name or None, task refs) from a split name or explicit TaskRefs."""
  from mtr_jax.rollout.collect import select_refs
  if isinstance(split, str):
    from mtr_jax.envs.splits import split_tasks
    try:
      refs = split_tasks(env, split)
    except ValueError as e:
      raise ValueError(f"{e}; for another environment pass the task refs "
                       "(TaskRef(task, variation)) instead of a split name") from None
    name = split
  else:
    refs, name = list(split), None
    if not refs:
      raise ValueError("no task refs to evaluate")
  return name, select_refs(refs, tasks=tasks, max_variations=max_variations)


def _label(simulated: bool) -> str:
  return SIMULATED_LABEL if simulated else REAL_LABEL


def _write(path: Path, results: dict) -> Path:
  from mtr_jax.rollout.summary import write_json_atomic
  return write_json_atomic(path, results)


def evaluate(env: str, split, router, *, runs: int = 1, workers: int = 1,
             out: str | os.PathLike, pool: str | os.PathLike = "paper6",
             limits=None, max_variations: int | None = None,
             tasks: Sequence[str] | None = None, n_boot: int = DEFAULT_N_BOOT,
             seed: int = 0, n_position_bins: int = DEFAULT_POSITION_BINS,
             error_rules=None, step_kind=None, task_family=None,
             include_episodes: bool = True, progress: bool = False) -> dict:
  """Runs `router` (a spec string or RouterSpec) on `split` (a split name, or a
  sequence of TaskRef) for `runs` runs per variation, and writes OUT/results.json.

  Episodes already on disk are reused (collect()'s resumability). limits: a
  rollout Limits (default: `default_limits(env)`). seed: the bootstrap's seed
  (a router's own seed is a spec option, ',seed=N'). Returns the results dict:
  label, simulated, env, split, router, pool, runs, limits, collection counts,
  point (mean cost, mean score), overall and per-task metrics, and the episode
  rows when include_episodes.
  """
  from mtr_jax.pool import load_pool
  from mtr_jax.rollout.collect import collect, plan_jobs
  from mtr_jax.trajectories import read_trajectory
  out = Path(out)
  pool_obj = load_pool(pool)
  choice = parse_router(router, pool_obj)
  split_name, refs = resolve_refs(env, split, tasks=tasks, max_variations=max_variations)
  limits = limits if limits is not None else default_limits(env)
  models = [choice.model] if choice.model else None
  summary = collect(env, refs, mode=choice.mode, pool=pool, models=models, runs=runs,
                    workers=workers, out=out, limits=limits, router=choice.spec,
                    split=split_name, progress=progress)
  jobs = plan_jobs(env, refs, mode=choice.mode, pool=pool_obj, models=models,
                   runs=runs, out=out)
  trajs = [read_trajectory(j.path, pool=pool_obj) for j in jobs if Path(j.path).exists()]
  metrics = evaluate_trajectories(trajs, error_rules=error_rules, step_kind=step_kind,
                                  task_family=task_family,
                                  n_position_bins=n_position_bins, n_boot=n_boot, seed=seed)
  simulated = all(m.backend == "simulated" for m in pool_obj)
  overall = metrics["overall"]
  results = {
      "label": _label(simulated), "simulated": simulated,
      "env": env, "split": split_name,
      "tasks": sorted({r.task for r in refs}), "variations": len(refs),
      "router": choice.to_dict(), "pool": pool_obj.name, "pool_source": str(pool_obj.source),
      "runs": runs, "limits": dataclasses.asdict(limits),
      "n_boot": n_boot, "seed": seed, "position_bins": n_position_bins,
      "collection": {k: summary[k] for k in ("planned", "collected_now",
                                             "skipped_existing", "failed", "failures")},
      "point": _point(overall),
      "overall": overall, "per_task": metrics["per_task"],
  }
  if include_episodes:
    results["episodes"] = metrics["episodes"]
  _write(out / RESULTS_FILE, results)
  return results


def _point(overall: dict) -> dict | None:
  """The router's (mean cost, mean score) point for a frontier."""
  if not overall.get("episodes"):
    return None
  return {"cost": overall["cost"]["mean"], "score": overall["score"]["mean"]}


def evaluate_folder(folder: str | os.PathLike, pool=None, *, out: str | os.PathLike | None = None,
                    n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                    n_position_bins: int = DEFAULT_POSITION_BINS, error_rules=None,
                    step_kind=None, task_family=None, include_episodes: bool = True,
                    errors: str = "raise") -> dict:
  """The metrics of every `*.traj.json` under `folder` (nothing is run).

  pool: a pool name/path or Pool, used to recompute unrecorded costs. Folders
  of several single-model baselines (collect's baseline layout) also get
  `per_model` metrics. Writes the results to `out` (a file path) when given.
  """
  from mtr_jax.pool import Pool, load_pool
  from mtr_jax.trajectories import iter_trajectories
  pool_obj = pool if (pool is None or isinstance(pool, Pool)) else load_pool(pool)
  trajs = list(iter_trajectories(folder, pool_obj, errors=errors))
  if not trajs:
    raise FileNotFoundError(f"{folder}: no *.traj.json files")
  kw = dict(error_rules=error_rules, step_kind=step_kind, task_family=task_family,
            n_position_bins=n_position_bins, n_boot=n_boot, seed=seed)
  metrics = evaluate_trajectories(trajs, **kw)
  simulated = all(bool(t.info.get("simulated", False)) for t in trajs)
  results = {"label": _label(simulated), "simulated": simulated, "folder": str(folder),
             "pool": pool_obj.name if pool_obj is not None else None,
             "n_boot": n_boot, "seed": seed, "position_bins": n_position_bins,
             "point": _point(metrics["overall"]),
             "overall": metrics["overall"], "per_task": metrics["per_task"]}
  fixed: dict[str, list] = {}
  for t in trajs:
    if t.info.get("policy") == "fixed" and t.steps:
      fixed.setdefault(t.steps[0].model, []).append(t)
  if len(fixed) > 1:
    results["per_model"] = {m: evaluate_trajectories(ts, **kw)["overall"]
                            for m, ts in sorted(fixed.items())}
  if include_episodes:
    results["episodes"] = metrics["episodes"]
  if out is not None:
    _write(Path(out), results)
  return results


def load_results(path: str | os.PathLike) -> dict:
  """A results.json file (or the folder that holds one)."""
  path = Path(path)
  if path.is_dir():
    path = path / RESULTS_FILE
  return json.loads(path.read_text())


def format_results(results: dict) -> str:
  """A short human-readable report of a results dict."""
  ov = results["overall"]
  lines = [f"[{results['label']}]"]
  who = results.get("router", {}).get("spec") or results.get("folder")
  lines.append(f"{results.get('env', '')}/{results.get('split') or 'tasks'} "
               f"router={who} pool={results.get('pool')}: {ov.get('episodes', 0)} episodes")
  if not ov.get("episodes"):
    return "\n".join(lines)
  sc, co, sw = ov["score"], ov["cost"], ov["switch_rate"]
  lines.append(f"score {sc['mean']:.2f} [{sc['ci_low']:.2f}, {sc['ci_high']:.2f}]  "
               f"success {ov['success_rate']:.3f}  cost/ep ${co['mean']:.4f} "
               f"(total ${co['total']:.3f})  steps {ov['steps']['mean']:.1f}")
  rate = "n/a" if sw["mean"] is None else f"{sw['mean']:.3f}"
  eb = ov["error_behaviour"]
  fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
  lines.append(f"switch rate {rate} ({sw['n']} episodes with >= 2 steps); "
               f"after an error: switch {fmt(eb['switch_after_error'])} "
               f"(otherwise {fmt(eb['switch_after_ok'])}), recovery "
               f"{fmt(eb['recovery_rate'])}, progress {fmt(eb['progress_rate'])}")
  lines.append(f"exit statuses: {ov['exit_statuses']}")
  usage = ", ".join(f"{m} {u['share']:.2f}" for m, u in ov["model_usage"].items())
  lines.append(f"model shares: {usage}")
  return "\n".join(lines)
