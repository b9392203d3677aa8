"""Summaries of collected episodes: score, success, cost, steps, exits, model usage."""

from __future__ import annotations

import collections
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np

SUCCESS_SCORE = 100.0


def write_json_atomic(path: str | Path, obj, indent: int = 2) -> Path:
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "w") as f:
      json.dump(obj, f, indent=indent, sort_keys=False)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    Path(tmp).unlink(missing_ok=True)
    raise
  return path


def episode_row(traj) -> dict:
  """The per-episode numbers a summary aggregates (from a Trajectory)."""
  return {
      "task": traj.task_name, "variation": traj.variation_idx,
      "score": traj.final_score, "cost": traj.total_cost,
      "steps": len(traj.steps), "exit_status": traj.exit_status,
      "models": [s.model for s in traj.steps],
      "baseline_model": (traj.info.get("policy") == "fixed" and traj.steps
                         and traj.steps[0].model) or None,
  }


def aggregate(rows: list[dict]) -> dict:
  if not rows:
    return {"episodes": 0}
  scores = np.array([r["score"] for r in rows], dtype=float)
  costs = np.array([r["cost"] for r in rows], dtype=float)
  usage = collections.Counter(m for r in rows for m in r["models"])
  calls = sum(usage.values())
  return {
      "episodes": len(rows),
      "mean_score": float(scores.mean()),
      "success_rate": float((scores >= SUCCESS_SCORE).mean()),
      "total_cost": float(costs.sum()),
      "mean_cost": float(costs.mean()),
      "mean_steps": float(np.mean([r["steps"] for r in rows])),
      "exit_statuses": dict(collections.Counter(r["exit_status"] for r in rows)),
      "model_usage": {m: {"calls": n, "share": n / calls}
                      for m, n in usage.most_common()},
  }


def summarize(paths: Iterable[str | Path], pool=None) -> dict:
  """Overall, per-task and (for baselines) per-model aggregates of the episodes."""
  from mtr_jax.trajectories import read_trajectory
  rows = [episode_row(read_trajectory(p, pool=pool)) for p in paths]
  by_task = collections.defaultdict(list)
  by_model = collections.defaultdict(list)
  for r in rows:
    by_task[r["task"]].append(r)
    if r["baseline_model"]:
      by_model[r["baseline_model"]].append(r)
  out = {"overall": aggregate(rows),
         "per_task": {t: aggregate(rs) for t, rs in sorted(by_task.items())}}
  if by_model:
    out["per_model"] = {m: aggregate(rs) for m, rs in by_model.items()}
  return out


def format_summary(summary: dict) -> str:
  """A short human-readable table of a collection summary."""
  lines = []
  note = summary.get("note")
  if note:
    lines.append(f"[{note}]")
  head = (f"{summary.get('env')}/{summary.get('split')} mode={summary.get('mode')} "
          f"pool={summary.get('pool')}: {summary.get('planned')} planned, "
          f"{summary.get('collected_now')} collected now, "
          f"{summary.get('skipped_existing')} already on disk, "
          f"{summary.get('failed')} failed")
  lines.append(head)
  groups = summary.get("per_model") or {"all episodes": summary["overall"]}
  lines.append(f"{'':34s} {'eps':>5s} {'score':>7s} {'succ':>6s} {'$/ep':>8s} "
               f"{'$ total':>8s} {'steps':>6s}")
  for name, agg in groups.items():
    if not agg.get("episodes"):
      continue
    lines.append(f"{name[:34]:34s} {agg['episodes']:5d} {agg['mean_score']:7.1f} "
                 f"{agg['success_rate']:6.2f} {agg['mean_cost']:8.4f} "
                 f"{agg['total_cost']:8.3f} {agg['mean_steps']:6.1f}")
  ov = summary["overall"]
  if ov.get("episodes"):
    lines.append(f"exit statuses: {ov['exit_statuses']}")
  return "\n".join(lines)
