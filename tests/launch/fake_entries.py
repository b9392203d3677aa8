"""Entries for the launcher tests: fast stand-ins for train_and_evaluate."""

from __future__ import annotations

import json
import os
from pathlib import Path


def _count_call(workdir: Path) -> None:
  workdir.mkdir(parents=True, exist_ok=True)
  with open(workdir / "calls.txt", "a") as f:
    f.write("call\n")


def run(config, workdir):
  """Writes out.txt and a report.json; raises when config.fail."""
  workdir = Path(workdir)
  _count_call(workdir)
  print(f"fake job x={config.x}")
  if config.fail:
    raise ValueError(f"boom in job x={config.x}")
  (workdir / "out.txt").write_text(f"x={config.x} seed={config.train.seed}\n")
  (workdir / "report.json").write_text(json.dumps({"rows": [{"router": "r", "x": config.x}]}))
  return {"x": config.x}


def crash(config, workdir):
  """Kills its own process when config.fail (a segfault or OOM kill stand-in)."""
  _count_call(Path(workdir))
  if config.fail:
    os._exit(3)
  (Path(workdir) / "out.txt").write_text("ok\n")


def shared(config, workdir, estimator_workdir=None):
  """'Trains' once into estimator_workdir (idempotently), then 'routes' per job."""
  est = Path(estimator_workdir)
  if not (est / "estimator.txt").exists():
    with open(est / "trainings.log", "a") as f:
      f.write(f"trained by x={config.x}\n")
    (est / "estimator.txt").write_text(f"seed={config.train.seed}\n")
  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / "out.txt").write_text(
      f"budget={config.route.budget} estimator={(est / 'estimator.txt').read_text()}")


def report(config, workdir):
  """A report.json like mtr_jax.experiment's: two models, random, MTRouter whose
  cost and score grow with config.x (no checkpoint)."""
  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)

  def row(router, cost, score):
    return {"router": router, "episodes": 4, "mean_score": score, "success_rate": 0.5,
            "total_cost": 4 * cost, "mean_cost": cost, "mean_steps": 10.0,
            "objective": (score + 100) / 200 - cost / 0.05}

  rows = [row("openai/gpt-5", 0.09, 60.0), row("openai/gpt-oss-120b", 0.003, 30.0),
          row("random router", 0.03, 40.0),
          row("MTRouter (ours)", 0.01 * config.x, 40.0 + 10 * config.x ** 0.5)]
  (workdir / "report.json").write_text(json.dumps({"rows": rows, "checkpoint": None}))
