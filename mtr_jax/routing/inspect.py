"""`mtr-jax route`: what a trained router thinks of each model at one step."""

from __future__ import annotations

import datetime as dt

import numpy as np

from mtr_jax.pool import ModelSpec, Pool, load_pool
from mtr_jax.routing.learned import LearnedRouter
from mtr_jax.trajectories import read_trajectory


def pool_from_metadata(models: list[dict]) -> Pool:
  """The pool a checkpoint was trained on (prices and limits; no behaviour)."""
  specs = []
  for m in models:
    cutoff = m.get("knowledge_cutoff")
    specs.append(ModelSpec(
        name=m["name"], input_price=m["input_price"], output_price=m["output_price"],
        max_input_tokens=m["max_input_tokens"], max_output_tokens=m["max_output_tokens"],
        knowledge_cutoff=dt.date.fromisoformat(cutoff) if cutoff else None,
        backend=m.get("backend", "simulated")))
  return Pool("checkpoint", tuple(specs), "<checkpoint metadata>")


def route_report(checkpoint: str, traj_path: str, *, step: int = -1, pool: str | None = None,
                 budget: float | None = None) -> str:
  from mtr_jax.training.checkpoint import read_metadata
  router = LearnedRouter.from_checkpoint(checkpoint)
  meta = read_metadata(checkpoint)
  pool_obj = load_pool(pool) if pool else pool_from_metadata(meta["pool"])
  traj = read_trajectory(traj_path, pool=pool_obj if pool else None)
  n = len(traj.steps)
  if not -1 <= step < n:
    raise ValueError(f"{traj_path}: --step {step} out of range (the episode has {n} steps; "
                     f"use 0..{n - 1}, or -1 for after the last)")
  if step == -1:
    history, spent, where = traj.messages, traj.total_cost, f"after the last of {n} steps"
  else:
    s = traj.steps[step]
    history = traj.history(s)
    spent = sum(x.cost for x in traj.steps[:step])
    where = f"before step {step} (taken by {s.model})"
  budget = budget if budget is not None else traj.info.get("limits", {}).get("cost_limit", 2.0)
  view = router._view(pool_obj)
  prompt = router.counter.count_messages(history)
  mask, expected = router.candidate_mask(view, prompt, spent, budget)
  q = router.scores(router.embed(history), view, mask)
  best = int(np.argmax(q))
  lines = [f"{traj_path}: {where}; prompt {prompt} tokens; spent ${spent:.4f} of ${budget:.2f}",
           f"{'model':36s} {'score':>9s} {'exp. $':>9s}  note"]
  for k, name in enumerate(pool_obj.names):
    note = "chosen (greedy)" if k == best else ("masked" if not mask[k] else "")
    score = f"{q[k]:9.4f}" if np.isfinite(q[k]) else f"{'-inf':>9s}"
    lines.append(f"{name[:36]:36s} {score} {expected[k]:9.5f}  {note}")
  return "\n".join(lines)
