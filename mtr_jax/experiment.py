"""The main job, stage by stage: collect -> (train -> route -> evaluate)."""

from __future__ import annotations

from pathlib import Path

import ml_collections

from mtr_jax.envs.splits import split_tasks
from mtr_jax.rollout.collect import collect, select_refs
from mtr_jax.rollout.episode import Limits
from mtr_jax.rollout.summary import format_summary

BANNER = ("NOTE: these are results on the offline testbed: real text environments "
          "driven by SIMULATED LLM agents. No LLM was called.")


def collect_stage(config: ml_collections.ConfigDict, workdir: Path) -> dict:
  """Roulette episodes of the train split and single-model baselines held out."""
  cc = config.collect
  limits = Limits(step_limit=cc.step_limit, cost_limit=cc.cost_limit)
  runs = {}
  for name, split, mode, n in (("train_roulette", "train", "roulette", cc.train_runs),
                               (f"{cc.eval_split}_baseline", cc.eval_split,
                                "baseline", cc.eval_runs)):
    refs = select_refs(split_tasks(config.env, split),
                       max_variations=cc.max_variations or None)
    runs[name] = collect(config.env, refs, mode=mode, pool=config.pool, runs=n,
                         workers=cc.workers, out=workdir / "trajectories" / name,
                         limits=limits, router_seed=config.seed, split=split)
    print(format_summary(runs[name]), flush=True)
  return runs


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  print(BANNER, flush=True)
  results = {"collect": collect_stage(config, workdir)}
  print(BANNER, flush=True)
  return results
