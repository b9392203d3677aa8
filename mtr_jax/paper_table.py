"""The paper's comparison on the testbed, stage by stage (SPEC section 7):

  collect train logs -> train the estimator (+ Stage B) -> fit the baselines ->
  evaluate every router on each held-out split -> table, plots, claim check.

Every router's episodes and metrics land in WORKDIR/eval/SPLIT/NAME/ (the
`mtr-jax eval` layout: trajectories, summary.json, results.json), so a rerun skips
finished episodes and `mtr-jax eval --from-folder` can re-score any of them.
"""

from __future__ import annotations

from pathlib import Path

import ml_collections

from mtr_jax.experiment import BANNER, Experiment


def router_slug(name: str) -> str:
  """A folder name for a router: 'model:openai/gpt-5' -> 'model_openai_gpt-5'."""
  return "".join(ch if ch.isalnum() or ch in "-._" else "_" for ch in name)


def eval_dir(workdir: str | Path, split: str, name: str) -> Path:
  return Path(workdir) / "eval" / split / router_slug(name)


def single_model_routers(pool) -> dict[str, str]:
  """Display name -> router spec, one per model of the pool, and the random router."""
  routers = {m.name.split("/")[-1]: f"model:{m.name}" for m in pool}
  routers["random router"] = "random"
  return routers


def collect_training(exp: Experiment) -> list[Path]:
  """Roulette and single-model episodes on the train split (the paper's data)."""
  cc = exp.config.collect
  exp.collect("train_roulette", "train", "roulette", cc.train_roulette_runs)
  exp.collect("train_baseline", "train", "baseline", cc.train_baseline_runs)
  return [exp.traj_dir / "train_roulette", exp.traj_dir / "train_baseline"]


def split_runs(config: ml_collections.ConfigDict, split: str) -> int:
  """Runs per variation on `split`: collect.runs[split], else collect.eval_runs."""
  cc = config.collect
  return (cc.get("runs") or {}).get(split, cc.eval_runs)


def evaluate_router(exp: Experiment, split: str, name: str, spec: str) -> dict:
  """Runs one router on `split` (resumable) and returns its results dict."""
  from mtr_jax.evaluation.evaluate import evaluate, format_results
  c = exp.config
  results = evaluate(c.env, split, spec, runs=split_runs(c, split),
                     workers=c.collect.workers, out=eval_dir(exp.workdir, split, name),
                     pool=c.pool, limits=exp.limits,
                     max_variations=exp.max_variations(split), progress=True,
                     include_episodes=False)
  print(f"[{split}] {name}\n{format_results(results)}", flush=True)
  return results


def fit_baselines(exp: Experiment, folders: list[Path]) -> dict[str, Path]:
  """Fits each of config.baselines on the estimator's training trajectories (a
  baseline already saved under WORKDIR/baselines/KIND is reused)."""
  from mtr_jax.routing.baselines.common import CONFIG_FILE
  paths, encoder = {}, None
  for kind in exp.config.baselines:
    path = exp.workdir / "baselines" / kind
    if not (path / CONFIG_FILE).exists():
      from mtr_jax.embeddings import make_encoder
      from mtr_jax.pool import load_pool
      from mtr_jax.routing.baselines import fit_baseline
      encoder = encoder or make_encoder(exp.config.encoder)
      fit_baseline(kind, folders, load_pool(exp.config.pool), encoder, out=path,
                   cache_dir=exp.workdir / "embeddings", progress=True)
      print(f"baseline {kind}: fitted, saved to {path}", flush=True)
    paths[kind] = path
  return paths


def mtrouter_routers(config: ml_collections.ConfigDict, checkpoint: Path) -> dict[str, str]:
  """'MTRouter lam=X' -> spec, one per routing-time lambda of a two-head estimator;
  a one-head estimator has only its training lambda."""
  lams = (tuple(config.route.lams) if config.train.model.get("heads", 1) == 2
          else (config.data.lam,))
  return {f"MTRouter lam={lam:g}": f"checkpoint:{checkpoint},lam={lam:g}" for lam in lams}


def result_row(name: str, kind: str, results: dict) -> dict:
  """One table row from evaluate() results: score with its interval, success, cost
  per episode and per pass over the split, switch rate, error behaviour."""
  o = results["overall"]
  row = {"router": name, "kind": kind, "episodes": o["episodes"], "runs": results["runs"],
         "mean_score": o["score"]["mean"],
         "score_ci": [o["score"]["ci_low"], o["score"]["ci_high"]],
         "success_rate": o["success_rate"], "mean_cost": o["cost"]["mean"],
         "cost_per_pass": o["cost"]["total"] / results["runs"],
         "switch_rate": o["switch_rate"]["mean"],
         "switch_after_error": o["error_behaviour"].get("switch_after_error"),
         "recovery_rate": o["error_behaviour"].get("recovery_rate")}
  if kind == "mtrouter":
    row["lam"] = float(name.rpartition("=")[2])
    row["label"] = f"λ={row['lam']:g}"
  return row


def best_single(rows: list[dict]) -> dict:
  singles = [r for r in rows if r["kind"] == "model"]
  if not singles:
    raise ValueError("no single-model rows")
  return max(singles, key=lambda r: (r["mean_score"], -r["mean_cost"]))


def select_lambda(rows: list[dict], max_cost_fraction: float) -> dict:
  """The MTRouter row chosen on the selection split: the highest score among the
  lambdas whose cost is at most `max_cost_fraction` of the best single model's;
  when none is that cheap, the cheapest lambda."""
  ours = [r for r in rows if r["kind"] == "mtrouter"]
  if not ours:
    raise ValueError("no MTRouter rows to select from")
  budget = max_cost_fraction * best_single(rows)["mean_cost"]
  cheap = [r for r in ours if r["mean_cost"] <= budget]
  if not cheap:
    return min(ours, key=lambda r: r["mean_cost"])
  return max(cheap, key=lambda r: (r["mean_score"], -r["mean_cost"]))


def claim_check(rows: list[dict], chosen: dict, max_cost_fraction: float) -> dict:
  """The paper's headline on one split: the chosen MTRouter scores no lower than the
  best single model, at no more than `max_cost_fraction` of its cost, and switches
  models less often than the random router and the ridge router."""
  best = best_single(rows)
  by_name = {r["router"]: r for r in rows}
  out = {"best_single_model": best["router"], "best_single_score": best["mean_score"],
         "best_single_cost": best["mean_cost"], "mtrouter": chosen["router"],
         "mtrouter_score": chosen["mean_score"], "mtrouter_cost": chosen["mean_cost"],
         "cost_fraction": chosen["mean_cost"] / best["mean_cost"],
         "score_not_lower": chosen["mean_score"] >= best["mean_score"],
         "cost_within": chosen["mean_cost"] <= max_cost_fraction * best["mean_cost"],
         "max_cost_fraction": max_cost_fraction}
  for other in ("random router", "ridge"):
    if other in by_name:
      out[f"switch_rate_{other.split()[0]}"] = by_name[other]["switch_rate"]
      out[f"switches_less_than_{other.split()[0]}"] = (
          chosen["switch_rate"] < by_name[other]["switch_rate"])
  out["holds"] = all(v for k, v in out.items()
                     if k in ("score_not_lower", "cost_within") or k.startswith("switches_less"))
  return out


def markdown_table(by_split: dict[str, list[dict]], chosen: str | None = None) -> str:
  """Routers down, splits across: score [95% CI], $ per pass over the split, switch
  rate. The chosen MTRouter row is marked with *."""
  splits = list(by_split)
  names = list(dict.fromkeys(r["router"] for rows in by_split.values() for r in rows))
  cells = {(s, r["router"]): r for s, rows in by_split.items() for r in rows}
  head = ["router"] + [f"{s} {c}" for s in splits for c in ("score [95% CI]", "$/pass",
                                                            "switch")]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for name in names:
    out = [name + (" *" if name == chosen else "")]
    for s in splits:
      r = cells.get((s, name))
      if r is None:
        out += ["", "", ""]
        continue
      lo, hi = r["score_ci"]
      out += [f"{r['mean_score']:.1f} [{lo:.1f}, {hi:.1f}]", f"{r['cost_per_pass']:.2f}",
              f"{r['switch_rate']:.3f}"]
    lines.append("| " + " | ".join(out) + " |")
  return "\n".join(lines)


def evaluate_all(exp: Experiment, split: str, routers: dict[str, tuple[str, str]]) -> list[dict]:
  """routers: name -> (kind, spec). Rows in the given order."""
  return [result_row(name, kind, evaluate_router(exp, split, name, spec))
          for name, (kind, spec) in routers.items()]


def draw(exp: Experiment, split: str, rows: list[dict], chosen: dict, checkpoint: Path,
         writer=None) -> dict[str, str]:
  """Pareto plot and comparison bars of one split (and the embedding map once)."""
  from mtr_jax.evaluation import plots
  out = exp.workdir / "plots"
  title = f"{exp.config.env} {split}: cost vs score of every router"
  paths = {"pareto": plots.pareto_plot(rows, out / f"pareto_{split}.png", title=title)}
  others = [r for r in rows if r["kind"] != "mtrouter"]
  try:
    paths["bars"] = plots.comparison_bars(
        [*others, chosen], out / f"bars_{split}.png",
        title=f"{exp.config.env} {split}: score and cost against GPT-5")
  except ValueError as e:
    print(f"no comparison bars for {split}: {e}")
  emb = out / "embeddings.png"
  if not emb.exists():
    z = plots.model_embeddings(checkpoint)
    paths["embeddings"] = plots.embedding_map(
        z["names"], z["z"], emb, prices=z["prices"], seen=z["seen"],
        title="MTRouter's learned model embeddings $z_m$ (PCA)")
  if writer is not None:
    for name, path in paths.items():
      writer.image(f"{split}/{name}" if name != "embeddings" else name, path)
  return {k: str(v) for k, v in paths.items()}


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
  """The whole comparison; returns (and writes WORKDIR/report.json, table.md)."""
  import json

  from mtr_jax.evaluation.frontier import frontier_summary
  from mtr_jax.evaluation.plots import cost_score_series
  from mtr_jax.experiment import stage_b, train_stage
  from mtr_jax.pool import load_pool
  from mtr_jax.rollout.summary import write_json_atomic
  from mtr_jax.training.metrics import MetricWriter
  exp = Experiment(config, workdir)
  exp.workdir.mkdir(parents=True, exist_ok=True)
  print(BANNER, flush=True)
  folders = collect_training(exp)
  checkpoint = stage_b(exp, folders, train_stage(exp, folders))
  baselines = fit_baselines(exp, folders)
  singles = {name: ("model" if spec.startswith("model:") else "random", spec)
             for name, spec in single_model_routers(load_pool(config.pool)).items()}
  learned = {name: ("baseline", f"baseline:{path}") for name, path in baselines.items()}
  ours = {name: ("mtrouter", spec)
          for name, spec in mtrouter_routers(config, checkpoint).items()}
  frac = config.claim.max_cost_fraction
  writer = MetricWriter(exp.workdir / "wandb_run", config=json.loads(config.to_json()),
                        group=config.get("wandb_group") or exp.workdir.name,
                        name=f"paper-table-{config.env}")
  report = {"note": BANNER, "env": config.env, "pool": config.pool,
            "checkpoint": str(checkpoint), "config": json.loads(config.to_json()),
            "variations": {s: len(exp.refs(s)) for s in ("train", config.select.split,
                                                         *config.eval_splits) if s},
            "runs": {s: split_runs(config, s) for s in (config.select.split,
                                                        *config.eval_splits) if s},
            "splits": {}}
  chosen_name = next(iter(ours))
  if config.select.split and len(ours) > 1:
    sel = evaluate_all(exp, config.select.split, {**singles, **ours})
    chosen_name = select_lambda(sel, frac)["router"]
    report["selection"] = {"split": config.select.split, "rows": sel, "chosen": chosen_name,
                           "rule": f"highest score at <= {frac:g} x the best single "
                                   "model's cost, else the cheapest lambda"}
    print(f"lambda chosen on {config.select.split}: {chosen_name}", flush=True)
  report["chosen"] = chosen_name
  by_split = {}
  for split in config.eval_splits:
    rows = evaluate_all(exp, split, {**singles, **learned, **ours})
    by_split[split] = rows
    chosen = next(r for r in rows if r["router"] == chosen_name)
    points = [r for r in rows if r["kind"] == "mtrouter"]
    single = {r["router"]: (r["mean_cost"], r["mean_score"])
              for r in rows if r["kind"] == "model"}
    entry = {"rows": rows, "claim": claim_check(rows, chosen, frac),
             "frontier": frontier_summary([r["mean_cost"] for r in points],
                                          [r["mean_score"] for r in points],
                                          labels=[r["label"] for r in points],
                                          single_models=single)}
    entry["plots"] = draw(exp, split, rows, chosen, checkpoint, writer)
    report["splits"][split] = entry
    writer.table(f"{split}/routers", rows)
    writer.curves(f"{split}/cost_score", cost_score_series(rows),
                  x="mean $ per episode", y="mean score")
  writer.close()
  table = markdown_table(by_split, chosen_name)
  header = (f"{BANNER}\n\n{config.env}: train {report['variations']['train']} variations "
            f"(roulette x{config.collect.train_roulette_runs}, each single model "
            f"x{config.collect.train_baseline_runs}); runs per variation {report['runs']}; "
            f"variations {report['variations']}. * = lambda chosen on "
            f"{config.select.split or '-'}.")
  claims = "\n".join(
      f"- {s}: {c['mtrouter']} scores {c['mtrouter_score']:.1f} vs {c['best_single_model']} "
      f"{c['best_single_score']:.1f} at {c['cost_fraction']:.0%} of its cost; claim "
      f"{'holds' if c['holds'] else 'does NOT hold'}" for s, c in
      ((s, e["claim"]) for s, e in report["splits"].items()))
  (exp.workdir / "table.md").write_text(f"{header}\n\n{table}\n\n{claims}\n")
  write_json_atomic(exp.workdir / "report.json", report)
  print(f"\n{header}\n\n{table}\n\n{claims}\n\nreport: {exp.workdir / 'report.json'}",
        flush=True)
  return report
