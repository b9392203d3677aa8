"""The main job, stage by stage: collect -> train -> route held-out -> report."""

from __future__ import annotations

import json
from pathlib import Path

import ml_collections

from mtr_jax.envs.splits import split_tasks
from mtr_jax.rollout.collect import RouterSpec, collect, select_refs
from mtr_jax.rollout.episode import Limits
from mtr_jax.rollout.summary import format_summary, write_json_atomic

BANNER = ("NOTE: these are results on the offline testbed: real text environments "
          "driven by SIMULATED LLM agents. No LLM was called.")


class Experiment:
  """Paths and shared settings of one run of the main job."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str | Path):
    self.config = config
    self.workdir = Path(workdir)
    self.traj_dir = self.workdir / "trajectories"
    cc = config.collect
    self.limits = Limits(step_limit=cc.step_limit, cost_limit=cc.cost_limit)

  def max_variations(self, split: str) -> int | None:
    """At most this many variations per task of `split`: `collect.variations[split]`
    when the config has it, else `collect.max_variations` (0 or None: all)."""
    cc = self.config.collect
    per_split = cc.get("variations") or {}
    return per_split.get(split, cc.max_variations) or None

  def refs(self, split: str):
    return select_refs(split_tasks(self.config.env, split),
                       max_variations=self.max_variations(split))

  def collect(self, name: str, split: str, mode: str, runs: int,
              router: RouterSpec | None = None, *, pool: str | None = None,
              limits: Limits | None = None) -> dict:
    summary = collect(self.config.env, self.refs(split), mode=mode,
                      pool=pool or self.config.pool, runs=runs,
                      workers=self.config.collect.workers, out=self.traj_dir / name,
                      limits=limits or self.limits, router=router, split=split)
    print(format_summary(summary), flush=True)
    return summary


def train_stage(exp: Experiment, folders, name: str = "estimator",
                init_from: Path | None = None) -> Path:
  from mtr_jax.training.dataset import train_from_config
  c = exp.config
  tc = ml_collections.ConfigDict({
      "pool": c.pool, "encoder": c.encoder, "train": c.train,
      "data": {"folders": [str(f) for f in folders],
               "cache_dir": str(exp.workdir / "embeddings"), **c.data.to_dict()}})
  result = train_from_config(tc, exp.workdir / name, init_from=init_from)
  print(f"{name}: best validation MSE {result.best_val_loss:.5f} at epoch "
        f"{result.best_epoch} (initial {result.initial_val_loss:.5f}, "
        f"{result.epochs_run} epochs, stopped: {result.stop_reason})", flush=True)
  return exp.workdir / name


def stage_b(exp: Experiment, folders: list[Path], checkpoint: Path) -> Path:
  """The paper's Stage B, repeated `rounds` times: collect on the train split with
  the beta-mixed policy of the current estimator, then retrain warm-started on the
  union of everything collected so far."""
  sb = exp.config.stage_b
  for r in range(1, sb.rounds + 1):
    name = f"train_stage_b{r}"
    exp.collect(name, "train", "mixed", sb.runs,
                RouterSpec(mode="mixed", checkpoint=str(checkpoint), beta=sb.beta,
                           seed=exp.config.seed + r))
    folders = [*folders, exp.traj_dir / name]
    checkpoint = train_stage(exp, folders, f"estimator_b{r}", init_from=checkpoint)
  return checkpoint


def comparison_rows(baselines: dict, routed: dict[str, dict], *, lam: float,
                    cost_scale: float) -> list[dict]:
  """One row per router. `objective` is what the estimator is trained to maximise:
  mean S_norm - lam * mean episode cost / cost_scale (the training episodes' mean
  cost), with S_norm = (score + 100) / 200."""
  aggs = dict(baselines.get("per_model", {}))
  aggs.update({name: summary["overall"] for name, summary in routed.items()})
  rows = []
  for name, agg in aggs.items():
    row = {"router": name, **{k: agg[k] for k in (
        "episodes", "mean_score", "success_rate", "total_cost", "mean_cost", "mean_steps")}}
    row["objective"] = (agg["mean_score"] + 100) / 200 - lam * agg["mean_cost"] / cost_scale
    rows.append(row)
  return rows


def format_rows(rows: list[dict], title: str) -> str:
  lines = [title, f"{'router':34s} {'eps':>4s} {'score':>7s} {'succ':>5s} "
                  f"{'$ total':>9s} {'$/ep':>8s} {'steps':>6s} {'objective':>9s}"]
  for r in rows:
    lines.append(f"{r['router'][:34]:34s} {r['episodes']:4d} {r['mean_score']:7.1f} "
                 f"{r['success_rate']:5.2f} {r['total_cost']:9.4f} {r['mean_cost']:8.5f} "
                 f"{r['mean_steps']:6.1f} {r['objective']:9.4f}")
  return "\n".join(lines)


def routing_settings(config: ml_collections.ConfigDict) -> tuple[float | None, str, Limits]:
  """(lam, pool, limits) of held-out routing from the optional `route` section:
  route.lam (None: the training lambda; another value needs a two-head estimator),
  route.pool (None: config.pool; e.g. 'paper6:drop=gpt-5') and route.cost_limit
  (None: collect.cost_limit). These are the fields a sweep can vary without
  retraining (launch's share="estimator")."""
  route = config.get("route") or {}
  cc = config.collect
  cost_limit = route.get("cost_limit")
  return (route.get("lam"), route.get("pool") or config.pool,
          Limits(step_limit=cc.step_limit,
                 cost_limit=cc.cost_limit if cost_limit is None else cost_limit))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path,
                       estimator_workdir: str | Path | None = None) -> dict:
  """Collect training data, train (+ Stage B), route held-out episodes, report.

  estimator_workdir: where the training data and the estimator live (default:
  workdir). Jobs of a routing-time sweep pass one shared folder: the first trains,
  the others find the finished estimator and only route (launch/runner.py)."""
  exp = Experiment(config, workdir)
  exp.workdir.mkdir(parents=True, exist_ok=True)
  train_exp = Experiment(config, estimator_workdir) if estimator_workdir else exp
  train_exp.workdir.mkdir(parents=True, exist_ok=True)
  cc = config.collect
  print(BANNER, flush=True)
  train_exp.collect("train_roulette", "train", "roulette", cc.train_roulette_runs)
  train_exp.collect("train_baseline", "train", "baseline", cc.train_baseline_runs)
  folders = [train_exp.traj_dir / "train_roulette", train_exp.traj_dir / "train_baseline"]
  checkpoint = stage_b(train_exp, folders, train_stage(train_exp, folders))
  lam, pool, limits = routing_settings(config)
  split = cc.eval_split
  route = dict(pool=pool, limits=limits)
  baselines = exp.collect(f"{split}_baseline", split, "baseline", cc.eval_runs, **route)
  random = exp.collect(f"{split}_random", split, "roulette", cc.eval_runs, **route)
  learned = exp.collect(f"{split}_mtrouter_{checkpoint.name}", split, "learned", cc.eval_runs,
                        RouterSpec(mode="learned", checkpoint=str(checkpoint),
                                   seed=config.seed, lam=lam), **route)
  from mtr_jax.training.checkpoint import read_metadata
  cost_scale = read_metadata(checkpoint)["cost_scale"][config.env]
  lam = config.data.lam if lam is None else lam
  rows = comparison_rows(baselines, {"random router": random, "MTRouter (ours)": learned},
                         lam=lam, cost_scale=cost_scale)
  if limits.cost_limit != cc.cost_limit:  # other budget: not the same baseline points
    for row in rows:
      if row["router"] != "MTRouter (ours)":
        row["router"] += f" (${limits.cost_limit:g} cap)"
  title = (f"{config.env} {split}: {len(exp.refs(split))} variations x {cc.eval_runs} runs "
           f"[simulated-agent testbed], pool {pool}, ${limits.cost_limit:g} per episode; "
           f"objective = mean (score+100)/200 - {lam:g} x mean $/episode / "
           f"${cost_scale:.4f} (train mean)")
  table = format_rows(rows, title)
  print("\n" + table + "\n" + BANNER, flush=True)
  report = {"env": config.env, "split": split, "note": BANNER, "rows": rows,
            "cost_scale": cost_scale, "lam": lam, "pool": pool,
            "cost_limit": limits.cost_limit,
            "checkpoint": str(checkpoint), "config": json.loads(config.to_json())}
  write_json_atomic(exp.workdir / "report.json", report)
  (exp.workdir / "report.txt").write_text(table + "\n" + BANNER + "\n")
  from mtr_jax.evaluation.plots import pareto_plot
  plot = pareto_plot(rows, exp.workdir / "pareto.png",
                     title=f"{config.env} {split}: cost vs score of every router")
  report["pareto_png"] = str(plot)
  print(f"Pareto plot: {plot}", flush=True)
  return report
