"""The figures of a finished sweep, from its jobs' report.json files.

  python -m launch.plot --workdir=runs/sweep1 [--out=runs/sweep1/plots] \
      [--reference=openai/gpt-5] [--swept="MTRouter (ours)"]

Reads every done job's report.json (mtr_jax.experiment's rows). The swept
router (MTRouter) contributes one point per job, labelled by the job's name
("lam=0.5" is shown as "λ=0.5"); every other router (single models, random,
baselines) is the mean of its rows over the jobs, since the jobs of a training
sweep evaluate the same baselines on the same episodes. Writes OUT/pareto.png,
OUT/bars.png, OUT/embeddings.png (the learned model embeddings of the checkpoint
of MTRouter's best-scoring job, plots.best_swept) and OUT/rows.json (the rows plotted
and the frontier summary: hull, AIQ, APGR), and logs the table, the cost-score lines
and the PNGs to a W&B run grouped with the sweep's jobs (offline by default).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from launch import manifest as mf

SWEPT = "MTRouter (ours)"


def sweep_rows(workdir: str | Path, swept: str = SWEPT) -> tuple[list[dict], dict]:
  """(rows, {label: checkpoint}) over the done jobs' reports."""
  workdir = Path(workdir)
  manifest = mf.load(workdir)
  ours, others, checkpoints = [], {}, {}
  for job in manifest["jobs"]:
    report = job["outputs"].get("report")
    if job["status"] != "done" or not report:
      continue
    rep = json.loads((workdir / report).read_text())
    label = job["name"].replace("lam=", "λ=")
    for row in rep["rows"]:
      if row["router"] == swept:
        ours.append({**row, "label": label, "job": job["id"]})
        checkpoints[label] = rep.get("checkpoint")
      else:
        others.setdefault(row["router"], []).append(row)
  if not ours:
    raise ValueError(f"{workdir}: no done job reports a {swept!r} row")
  rows = []
  for name, group in others.items():
    mean = {k: sum(r[k] for r in group) / len(group)  # not `objective`: it depends on lambda
            for k in ("mean_cost", "mean_score", "success_rate") if k in group[0]}
    rows.append({"router": name, **mean, "jobs": len(group)})
  return rows + ours, checkpoints


def frontier(rows: list[dict], swept: str = SWEPT) -> dict | None:
  from mtr_jax.evaluation.frontier import frontier_summary
  from mtr_jax.evaluation.plots import row_kind
  ours = [r for r in rows if row_kind(r, swept) == "mtrouter"]
  single = {r["router"]: (r["mean_cost"], r["mean_score"]) for r in rows
            if row_kind(r, swept) == "model"}
  try:
    return frontier_summary([r["mean_cost"] for r in ours], [r["mean_score"] for r in ours],
                            labels=[r["label"] for r in ours], single_models=single or None)
  except ValueError as e:  # e.g. fewer than two single models: no APGR
    return {"error": str(e)}


def plot_sweep(workdir: str | Path, out: str | Path | None = None, *,
               reference: str = "openai/gpt-5", swept: str = SWEPT) -> dict[str, Path]:
  from mtr_jax.evaluation import plots
  workdir = Path(workdir).resolve()
  out = Path(out) if out else workdir / "plots"
  rows, checkpoints = sweep_rows(workdir, swept)
  paths = {"pareto": plots.pareto_plot(rows, out / "pareto.png", swept=swept,
                                       title=f"Sweep {workdir.name}: cost vs score")}
  try:
    paths["bars"] = plots.comparison_bars(rows, out / "bars.png", reference=reference,
                                          swept=swept)
  except ValueError as e:
    print(f"no comparison bars: {e}")
  best = plots.best_swept(rows, swept)
  if checkpoints.get(best["label"]):
    emb = plots.model_embeddings(checkpoints[best["label"]])
    paths["embeddings"] = plots.embedding_map(
        emb["names"], emb["z"], out / "embeddings.png", prices=emb["prices"],
        seen=emb["seen"], title=f"Model embeddings $z_m$ (PCA), MTRouter {best['label']}")
  mf.write_json_atomic(out / "rows.json", {"note": plots.NOTE, "rows": rows,
                                           "frontier": frontier(rows, swept)})
  paths["rows"] = out / "rows.json"
  log_to_wandb(workdir, out, rows, paths, swept)
  return paths


def log_to_wandb(workdir: Path, out: Path, rows: list[dict], paths: dict[str, Path],
                 swept: str = SWEPT) -> None:
  """One W&B run in the sweep's group (WANDB_MODE, default offline; files under
  OUT/wandb_run): the Pareto table, each router's cost-score line, the PNGs."""
  from mtr_jax.evaluation.plots import cost_score_series
  from mtr_jax.training.metrics import MetricWriter
  with MetricWriter(out / "wandb_run", group=workdir.name, name="sweep-plots",
                    config={"sweep": str(workdir)}) as writer:
    writer.table("pareto_table", rows)
    writer.curves("cost_score", cost_score_series(rows, swept), x="mean $ per episode",
                  y="mean score")
    for name, path in paths.items():
      if str(path).endswith(".png"):
        writer.image(name, path)


def main(argv: Sequence[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m launch.plot", allow_abbrev=False,
                              description=__doc__.split("\n\n")[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--out", help="default WORKDIR/plots")
  p.add_argument("--reference", default="openai/gpt-5")
  p.add_argument("--swept", default=SWEPT)
  args = p.parse_args(argv)
  for name, path in plot_sweep(args.workdir, args.out, reference=args.reference,
                               swept=args.swept).items():
    print(f"{name}: {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
