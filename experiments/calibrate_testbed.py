#!/usr/bin/env python
"""Calibration of the offline testbed (simulated agents): single-model baselines
and the room there is for routing.

    python experiments/calibrate_testbed.py                       # ScienceWorld test_id
    python experiments/calibrate_testbed.py --env twx --runs 3
    python experiments/calibrate_testbed.py --no-collect --out runs/calibration/x  # tables only

1. Collects (or reuses: collection is resumable) the single-model baselines of a
   pool on a split, in OUT/<model slug>/... exactly like `mtr-jax collect --mode
   baseline`.
2. Prints and writes (markdown, stdout and --table) the calibration table: per
   model, episodes, mean score, success rate, wrong-focus (-100) rate, total and
   per-episode cost, mean steps, run counts (and, for ScienceWorld test_id, the
   paper's real-LLM numbers beside them).
3. Room for routing, from the trajectories: the rate of correct actions per model
   by step kind and by task family (observed on each model's own episodes), and
   the "switch-in" probability of a correct action of every model on the same,
   shared set of states (every turn of every baseline episode), computed with the
   simulated agent's own formula (SimulatedBackend.p_correct, no stickiness: the
   model was just switched in). The best model per row is marked.
4. Oracle mixes (unless --no-oracle): episodes run with a router that sees the
   gold path (an oracle, not a deployable router) and calls, for the next step's
   (task family, step kind), either the model with the highest switch-in
   accuracy ("accuracy oracle") or the cheapest model at least as accurate there
   as the reference model ("cost-aware oracle"). Episodes use the baselines'
   seeds (counterfactually paired). The assignment is chosen from the same
   baseline episodes it is evaluated on (in-sample): an estimate of the room for
   routing, not a router result.

Every table is labelled as simulated-agent testbed results: no LLM is called.
A fingerprint of the pool is kept in OUT/pool_fingerprint.json; reusing an OUT
collected with other profiles or prices is refused (pick a new --out).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import dataclasses
import hashlib
import json
import math
import multiprocessing as mp
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

# This checkout's package, whatever another editable install points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtr_jax.agents.base import TurnContext  # noqa: E402
from mtr_jax.agents.simulated import SimulatedBackend, replay  # noqa: E402
from mtr_jax.envs.splits import split_tasks  # noqa: E402
from mtr_jax.pool import Pool, load_pool  # noqa: E402
from mtr_jax.rollout.collect import (collect,  # noqa: E402
                                     episode_seed, plan_jobs,
                                     resolve_env_factory, select_refs)
from mtr_jax.rollout.episode import Limits, run_episode  # noqa: E402
from mtr_jax.routing.base import RouteDecision  # noqa: E402
from mtr_jax.rollout.summary import SUCCESS_SCORE  # noqa: E402

LABEL = ("Simulated-agent testbed results (offline: simulated agents in real text "
         "environments; no LLM was called). Not real-LLM results.")
DEFAULT_LIMITS = {"scienceworld": (50, 2.0), "twx": (30, 1.0)}
STEP_KINDS = ("navigation", "manipulation", "critical")
REFERENCE_MODEL = "openai/gpt-5"

# The paper's real-LLM results on ScienceWorld test_id (SPEC section 7): score, total $.
PAPER_SCIENCEWORLD_TEST_ID = {
    "openai/gpt-5": (48.4, 13.9),
    "deepseek/deepseek-v3.2": (13.1, 2.9),
    "minimax/minimax-m2": (-0.5, 3.2),
    "moonshotai/kimi-k2-0905": (5.2, 2.5),
    "google/gemini-2.5-flash-lite": (4.2, 0.3),
    "openai/gpt-oss-120b": (26.6, 0.5),
}


# ---------------------------------------------------------------------------
# Small helpers.

def short(name: str) -> str:
  return name.split("/", 1)[-1]


def env_error_text(env_name: str) -> str:
  """The environment's answer to an unparseable action, without starting it."""
  if env_name == "scienceworld":
    from mtr_jax.envs.scienceworld import ERROR_TEXT
    return ERROR_TEXT
  if env_name == "twx":
    from mtr_jax.envs.twx import ERROR_TEXT
    return ERROR_TEXT
  module, attr = env_name.split(":", 1)
  import importlib
  return getattr(importlib.import_module(module), attr).error_text


def pool_fingerprint(pool: Pool) -> str:
  data = [{"name": m.name, "in": m.input_price, "out": m.output_price,
           "max_input": m.max_input_tokens,
           "profile": dataclasses.asdict(m.profile) if m.profile else None}
          for m in pool]
  return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def check_fingerprint(out: Path, pool: Pool) -> None:
  fp = pool_fingerprint(pool)
  path = out / "pool_fingerprint.json"
  if path.exists():
    old = json.loads(path.read_text()).get("fingerprint")
    if old != fp:
      raise SystemExit(
          f"{out} holds episodes of another pool version (fingerprint {old}, now {fp}): "
          "the profiles or prices changed. Use a new --out (collection would reuse the "
          "old episodes).")
  else:
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fingerprint": fp, "pool": pool.name,
                                "source": pool.source}, indent=1))


def fmt(x: float, digits: int = 1) -> str:
  return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  lines = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
  lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
  return "\n".join(lines)


def mark_best(values: Sequence[float], digits: int = 3, higher: bool = True) -> list[str]:
  """Formats a row, the best value(s) in bold."""
  finite = [v for v in values if v is not None and not math.isnan(v)]
  best = (max(finite) if higher else min(finite)) if finite else None
  return [("n/a" if v is None or math.isnan(v) else
           f"**{v:.{digits}f}**" if best is not None and abs(v - best) < 1e-12 else
           f"{v:.{digits}f}") for v in values]


# ---------------------------------------------------------------------------
# Reading episodes.

@dataclasses.dataclass
class Call:
  model: str
  kind: str
  outcome: str
  prompt_tokens: int
  completion_tokens: int
  cost: float
  n_errors: int       # error observations in the history before this call


@dataclasses.dataclass
class Episode:
  model: str          # the baseline model, or the router's name
  task: str
  variation: int
  run: int
  family: str
  score: float
  cost: float
  exit_status: str
  calls: list[Call]


def read_episode(path: str | Path, label: str, error_text: str) -> Episode:
  return episode_from_dict(json.loads(Path(path).read_text()), label, error_text)


def episode_from_dict(d: dict, label: str, error_text: str) -> Episode:
  """The numbers the tables need from one trajectory (a JSON dict)."""
  info, msgs = d["info"], d["messages"]
  calls, n_errors = [], 0
  for i, m in enumerate(msgs):
    if m.get("role") != "assistant":
      continue
    extra = m.get("extra") or {}
    sim = extra.get("simulated") or {}
    usage = (extra.get("response") or {}).get("usage") or {}
    calls.append(Call(m.get("model_name"), sim.get("step_kind", "?"), sim.get("outcome", "?"),
                      int(usage.get("prompt_tokens") or 0),
                      int(usage.get("completion_tokens") or 0),
                      float(usage.get("cost") or 0.0), n_errors))
    nxt = msgs[i + 1].get("content", "") if i + 1 < len(msgs) else ""
    n_errors += error_text in nxt
  return Episode(label, info["task_name"], int(info["variation_idx"]), int(info.get("run", 0)),
                 info.get("task_family", "?"), float(info["final_score"]),
                 float(info.get("model_stats", {}).get("instance_cost",
                                                        sum(c.cost for c in calls))),
                 str(info.get("exit_status")), calls)


def load_baselines(jobs, error_text: str) -> dict[str, list[Episode]]:
  by_model: dict[str, list[Episode]] = collections.defaultdict(list)
  for j in jobs:
    if Path(j.path).exists():
      by_model[j.model].append(read_episode(j.path, j.model, error_text))
  return by_model


# ---------------------------------------------------------------------------
# Tables.

def episode_stats(eps: list[Episode]) -> dict:
  scores = np.array([e.score for e in eps], dtype=float)
  n = len(eps)
  runs = sorted({e.run for e in eps})
  return {
      "episodes": n,
      "runs": len(runs),
      "mean_score": float(scores.mean()) if n else float("nan"),
      "score_se": float(scores.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan"),
      "success_rate": float((scores >= SUCCESS_SCORE).mean()) if n else float("nan"),
      "fail_rate": float((scores <= -100).mean()) if n else float("nan"),
      "total_cost": float(sum(e.cost for e in eps)),
      "cost_per_split_run": float(sum(e.cost for e in eps)) / max(len(runs), 1),
      "mean_cost": float(np.mean([e.cost for e in eps])) if n else float("nan"),
      "mean_steps": float(np.mean([len(e.calls) for e in eps])) if n else float("nan"),
      "calls": sum(len(e.calls) for e in eps),
      "cost_per_call": (float(sum(e.cost for e in eps)) / max(sum(len(e.calls) for e in eps), 1)),
      "exit_statuses": dict(collections.Counter(e.exit_status for e in eps)),
  }


def profile_table(pool: Pool) -> str:
  """The simulated-agent profiles of the pool, one row per model."""
  header = ["model", "in $/M", "out $/M", "skill nav / man / crit", "family_bias",
            "completion mean (spread)", "context free / decay per 1k", "stickiness",
            "history err. penalty", "failure mix inv / wasted", "wrong_focus"]
  rows = []
  for m in pool:
    p = m.profile
    if p is None:
      continue
    bias = ", ".join(f"{k} {v:+.1f}" for k, v in p.family_bias.items()) or "-"
    mix = p.failure_mix
    rows.append([short(m.name), f"{m.input_price:.2f}", f"{m.output_price:.2f}",
                 " / ".join(f"{p.skill[k]:.2f}" for k in STEP_KINDS), bias,
                 f"{p.completion_tokens.mean:.0f} ({p.completion_tokens.spread:.1f})",
                 f"{p.context_free_tokens} / {p.context_decay:.2f}", f"{p.stickiness:.1f}",
                 f"{p.history_error_penalty:.2f}",
                 f"{mix.get('invalid', 0):.1f} / {mix.get('wasted', 0):.1f}",
                 f"{p.wrong_focus:.2f}"])
  return md_table(header, rows)


def calibration_table(stats: dict[str, dict], paper: dict | None) -> str:
  header = ["model", "episodes", "runs", "mean score (±se)", "success", "-100 rate",
            "$ total", "$ / split run", "$ / episode", "$ / call", "mean steps", "exits"]
  if paper:
    header += ["paper score", "paper $"]
  rows = []
  for m, s in stats.items():
    exits = ", ".join(f"{k} {v}" for k, v in sorted(s["exit_statuses"].items()))
    row = [short(m), s["episodes"], s["runs"],
           f"{s['mean_score']:.1f} ± {s['score_se']:.1f}", fmt(s["success_rate"], 2),
           fmt(s["fail_rate"], 2), f"{s['total_cost']:.3f}", f"{s['cost_per_split_run']:.3f}",
           f"{s['mean_cost']:.4f}", f"{s['cost_per_call']:.5f}", fmt(s["mean_steps"]), exits]
    if paper:
      ps = paper.get(m)
      row += [fmt(ps[0]) if ps else "", fmt(ps[1]) if ps else ""]
    rows.append(row)
  return md_table(header, rows)


def observed_rates(by_model: dict[str, list[Episode]], key: str) -> dict:
  """{row: {model: (correct rate, calls)}}, rows = step kinds or task families."""
  out: dict[str, dict[str, tuple[float, int]]] = collections.defaultdict(dict)
  for m, eps in by_model.items():
    counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for e in eps:
      for c in e.calls:
        row = c.kind if key == "kind" else e.family
        counts[row][0] += c.outcome == "correct"
        counts[row][1] += 1
    for row, (k, n) in counts.items():
      out[row][m] = (k / n if n else float("nan"), n)
  return out


def _row_order(rows, key):
  if key == "kind":
    return [k for k in STEP_KINDS if k in rows] + sorted(set(rows) - set(STEP_KINDS))
  if key == "context":
    return sorted(rows, key=lambda r: int(r.lstrip(">=").split("-")[0].rstrip("k")))
  return sorted(rows)


def score_by_family(by_model: dict[str, list[Episode]]) -> dict:
  """{family: {model: (mean episode score, episodes)}}."""
  out: dict[str, dict[str, tuple[float, int]]] = collections.defaultdict(dict)
  for m, eps in by_model.items():
    groups: dict[str, list[float]] = collections.defaultdict(list)
    for e in eps:
      groups[e.family].append(e.score)
    for fam, scores in groups.items():
      out[fam][m] = (float(np.mean(scores)), len(scores))
  return out


def rate_table(rates: dict, models: Sequence[str], key: str, with_n: bool = True,
               digits: int = 3) -> str:
  header = [{"kind": "step kind", "family": "task family",
             "context": "prompt tokens"}[key]] + [short(m) for m in models]
  header += ["best"]
  rows = []
  for row in _row_order(rates, key):
    vals = [rates[row].get(m, (float("nan"), 0))[0] for m in models]
    cells = mark_best(vals, digits)
    if with_n:
      cells = [f"{c} ({rates[row].get(m, (0, 0))[1]})" for c, m in zip(cells, models)]
    finite = [(v, m) for v, m in zip(vals, models) if not math.isnan(v)]
    top = max(v for v, _ in finite) if finite else None
    tied = [short(m) for v, m in finite if abs(v - top) < 1e-12]
    best = ("all tied" if len(tied) > 1 and len(tied) == len(finite)
            else ", ".join(tied))
    rows.append([row] + cells + [best])
  return md_table(header, rows)


CONTEXT_BUCKETS = (1000, 2000, 3000, 4000)  # prompt-token bucket edges


def context_bucket(prompt_tokens: int) -> str:
  lo = 0
  for hi in CONTEXT_BUCKETS:
    if prompt_tokens < hi:
      return f"{lo // 1000}-{hi // 1000}k"
    lo = hi
  return f">={lo // 1000}k"


def switch_in_accuracy(by_model: dict[str, list[Episode]], pool: Pool) -> dict:
  """Mean probability of a correct action of every model on the shared states
  (every turn of every baseline episode, all models' episodes pooled), by
  (family, kind, prompt-length bucket): {cell: {model: [sum p, n]}}, plus the
  expected $ per call at those states."""
  backend = SimulatedBackend()
  cells: dict[tuple[str, str, str], dict[str, list[float]]] = collections.defaultdict(
      lambda: collections.defaultdict(lambda: [0.0, 0]))
  cost: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0])
  for eps in by_model.values():
    for e in eps:
      for c in e.calls:
        if c.kind not in STEP_KINDS:
          continue
        ctx = TurnContext(episode_seed=0, turn=0, task=e.task, task_family=e.family,
                          gold_actions=(), step_kind=lambda a: "navigation",
                          wasted_actions=(), wrong_critical_action=lambda a, r: None,
                          error_text="", prompt_tokens=c.prompt_tokens)
        key = (e.family, c.kind, context_bucket(c.prompt_tokens))
        for m in pool:
          if m.profile is None:
            continue
          p = backend.p_correct(m, c.kind, ctx, False, c.n_errors)
          cell = cells[key][m.name]
          cell[0] += p
          cell[1] += 1
          cost[m.name][0] += m.cost(c.prompt_tokens, m.profile.completion_tokens.mean)
          cost[m.name][1] += 1
  return {"cells": cells, "cost_per_call": {m: s / n for m, (s, n) in cost.items() if n}}


_KEYS = {"family": lambda c: c[0], "kind": lambda c: c[1], "context": lambda c: c[2],
         "family-kind": lambda c: (c[0], c[1])}


def collapse(cells: dict, key: str) -> dict:
  """Switch-in accuracy by kind, family, context bucket or (family, kind):
  {row: {model: (mean p, n)}}."""
  acc: dict = collections.defaultdict(lambda: collections.defaultdict(lambda: [0.0, 0]))
  for cell, per_model in cells.items():
    row = _KEYS[key](cell)
    for m, (s, n) in per_model.items():
      acc[row][m][0] += s
      acc[row][m][1] += n
  return {row: {m: (s / n, int(n)) for m, (s, n) in pm.items()} for row, pm in acc.items()}


def oracle_assignments(cells: dict, cost_per_call: dict[str, float], models: Sequence[str],
                       reference: str) -> dict[str, dict[tuple[str, str], str]]:
  """Per (family, kind): the most accurate model, and the cheapest model at least
  as accurate as the reference model."""
  acc_oracle, cost_oracle = {}, {}
  for cell, per_model in collapse(cells, "family-kind").items():
    mean = {m: p for m, (p, n) in per_model.items() if n and m in models}
    acc_oracle[cell] = max(mean, key=lambda m: (mean[m], -cost_per_call[m]))
    ref = mean.get(reference, max(mean.values()))
    ok = [m for m in mean if mean[m] >= ref - 1e-12]
    cost_oracle[cell] = min(ok, key=lambda m: cost_per_call[m])
  return {"accuracy": acc_oracle, "cost-aware": cost_oracle}


def assignment_table(assign: dict[str, dict], families: Sequence[str]) -> str:
  header = ["task family"] + [f"{k}: {name}" for name in assign for k in STEP_KINDS]
  rows = []
  for fam in families:
    row = [fam]
    for name, a in assign.items():
      for k in STEP_KINDS:
        row.append(short(a[(fam, k)]) if (fam, k) in a else "-")
    rows.append(row)
  return md_table(header, rows)


# ---------------------------------------------------------------------------
# Oracle mixes: a router that knows the next gold step's kind.

class OracleMixRouter:
  """Calls assignment[(family, kind of the next gold step)]. Sees the gold path:
  an oracle for estimating the room for routing, not a deployable router."""

  def __init__(self, name: str, assignment: dict[tuple[str, str], str], fallback: str):
    self.name, self.assignment, self.fallback = name, assignment, fallback
    self.env = self.family = None

  def reset(self, episode_seed: int) -> None:
    pass

  def select(self, messages, pool, spent, budget) -> RouteDecision:
    gold = self.env.gold_actions()
    p, _, _ = replay(messages, gold, "", self.env.error_text)
    kind = self.env.step_kind(gold[p]) if p < len(gold) else "navigation"
    model = self.assignment.get((self.family, kind), self.fallback)
    return RouteDecision(model, 1.0, {"policy": f"oracle-mix:{self.name}",
                                      "oracle_step_kind": kind})


_W: dict = {}


def _oracle_init(env_name: str, pool_source: str, limits: Limits):
  from mtr_jax.agents import make_backends
  _W.update(env=resolve_env_factory(env_name)(), pool=load_pool(pool_source),
            backends=make_backends(), limits=limits)


def _oracle_job(job: dict) -> str | None:
  from mtr_jax.trajectories import write_trajectory
  env = _W["env"]
  router = OracleMixRouter(job["name"], {tuple(k.split("|")): v for k, v in job["assign"].items()},
                           job["fallback"])
  router.env, router.family = env, env.task_family(job["task"])
  try:
    traj = run_episode(env, job["task"], job["variation"], pool=_W["pool"], router=router,
                       backends=_W["backends"], seed=job["seed"], limits=_W["limits"],
                       task_id=f"{job['task']}_var{job['variation']}_run{job['run']}",
                       extra_info={"run": job["run"], "policy": f"oracle-mix:{job['name']}",
                                   "testbed": "simulated agents"})
    write_trajectory(job["path"], traj)
    return None
  except Exception as e:  # noqa: BLE001 - reported, the rest goes on
    return f"{job['path']}: {type(e).__name__}: {e}"


def run_oracles(env_name: str, refs, runs: int, pool: Pool, limits: Limits,
                assignments: dict, out: Path, workers: int, fallback: str) -> dict:
  jobs = []
  for name, assign in assignments.items():
    # The assignment depends on the baselines: a new one gets a new folder.
    tag = hashlib.sha256(json.dumps(sorted(assign.items())).encode()).hexdigest()[:8]
    folder = out / f"oracle_{name}_{tag}"
    for ref in refs:
      for r in range(runs):
        path = folder / ref.task / f"{ref.task}_var{ref.variation}_run{r}.traj.json"
        jobs.append({"name": name, "assign": {"|".join(k): v for k, v in assign.items()},
                     "fallback": fallback, "task": ref.task, "variation": ref.variation,
                     "run": r, "seed": episode_seed(ref.task, ref.variation, r),
                     "path": str(path)})
  todo = [j for j in jobs if not Path(j["path"]).exists()]
  errors = []
  if todo:
    if workers <= 1:
      _oracle_init(env_name, pool.source, limits)
      errors = [e for e in map(_oracle_job, todo) if e]
      _W["env"].close()
    else:
      with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                  initializer=_oracle_init,
                                  initargs=(env_name, pool.source, limits)) as ex:
        errors = [e for e in ex.map(_oracle_job, todo, chunksize=4) if e]
  for e in errors:
    print(f"oracle episode failed: {e}", file=sys.stderr)
  error_text = env_error_text(env_name)
  return {name: [read_episode(j["path"], f"oracle ({name})", error_text) for j in jobs
                 if j["name"] == name and Path(j["path"]).exists()]
          for name in assignments}


def oracle_table(stats: dict[str, dict], oracle_eps: dict[str, list[Episode]],
                 reference: str) -> str:
  header = ["policy", "episodes", "mean score (±se)", "success", "-100 rate", "$ / split run",
            "$ / episode", "mean steps", "vs reference score", "vs reference $", "model shares"]
  ref = stats.get(reference)
  rows = []
  entries = [(f"{short(reference)} alone", stats[reference], None)] if ref else []
  for name, eps in oracle_eps.items():
    entries.append((f"oracle mix ({name})", episode_stats(eps), eps))
  for label, s, eps in entries:
    shares = ""
    if eps:
      usage = collections.Counter(c.model for e in eps for c in e.calls)
      total = sum(usage.values()) or 1
      shares = ", ".join(f"{short(m)} {n / total:.0%}" for m, n in usage.most_common())
    dscore = f"{s['mean_score'] - ref['mean_score']:+.1f}" if ref else ""
    dcost = (f"{100 * (s['cost_per_split_run'] / ref['cost_per_split_run'] - 1):+.0f}%"
             if ref and ref["cost_per_split_run"] else "")
    rows.append([label, s["episodes"], f"{s['mean_score']:.1f} ± {s['score_se']:.1f}",
                 fmt(s["success_rate"], 2), fmt(s["fail_rate"], 2),
                 f"{s['cost_per_split_run']:.3f}", f"{s['mean_cost']:.4f}",
                 fmt(s["mean_steps"]), dscore, dcost, shares])
  return md_table(header, rows)


# ---------------------------------------------------------------------------
# Main.

def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--env", default="scienceworld", help="scienceworld | twx | module:Factory")
  p.add_argument("--split", default="test_id", choices=("train", "val", "test_id", "ood"))
  p.add_argument("--pool", default="paper6", help="pool name or YAML path")
  p.add_argument("--models", help="comma-separated subset of the pool (default: all)")
  p.add_argument("--runs", type=int, default=1, help="runs per variation")
  p.add_argument("--workers", type=int, default=2)
  p.add_argument("--out", help="default: runs/calibration/<env>_<split>")
  p.add_argument("--table", help="markdown output (default: OUT/calibration.md)")
  p.add_argument("--tasks", help="comma-separated subset of the split's tasks")
  p.add_argument("--max-variations", type=int, help="at most this many per task")
  p.add_argument("--step-limit", type=int, help="default: 50 (ScienceWorld), 30 (twx)")
  p.add_argument("--cost-limit", type=float, help="default: 2.00 (ScienceWorld), 1.00 (twx)")
  p.add_argument("--reference", default=REFERENCE_MODEL,
                 help="the model the oracle mixes are compared with")
  p.add_argument("--no-collect", action="store_true", help="only read what is on disk")
  p.add_argument("--no-oracle", action="store_true", help="skip the oracle-mix episodes")
  p.add_argument("--no-progress", action="store_true")
  return p


def refs_for(env_name: str, split: str, tasks, max_variations):
  if env_name in DEFAULT_LIMITS:
    refs = split_tasks(env_name, split)
  else:  # a custom environment: every task with variations 0..max_variations-1
    factory_cls = env_name.split(":", 1)
    import importlib
    cls = getattr(importlib.import_module(factory_cls[0]), factory_cls[1])
    from mtr_jax.envs.base import TaskRef
    refs = [TaskRef(t, v) for t in cls.tasks for v in range(max_variations or 2)]
  return select_refs(refs, tasks=tasks.split(",") if tasks else None,
                     max_variations=max_variations)


def main(argv=None) -> int:
  args = build_parser().parse_args(argv)
  t0 = time.time()
  env_tag = args.env.split(":")[-1].lower() if ":" in args.env else args.env
  out = Path(args.out or f"runs/calibration/{env_tag}_{args.split}")
  table_path = Path(args.table) if args.table else out / "calibration.md"
  pool = load_pool(args.pool)
  models = args.models.split(",") if args.models else list(pool.names)
  steps_default, cost_default = DEFAULT_LIMITS.get(args.env, (50, 2.0))
  limits = Limits(step_limit=args.step_limit or steps_default,
                  cost_limit=args.cost_limit if args.cost_limit is not None else cost_default)
  refs = refs_for(args.env, args.split, args.tasks, args.max_variations)
  check_fingerprint(out, pool)
  error_text = env_error_text(args.env)

  if not args.no_collect:
    summary = collect(args.env, refs, mode="baseline", pool=args.pool, models=models,
                      runs=args.runs, workers=args.workers, out=out, limits=limits,
                      split=args.split, progress=not args.no_progress)
    if summary["failed"]:
      print(f"warning: {summary['failed']} baseline episodes failed: "
            f"{list(summary['failures'])[:5]}", file=sys.stderr)
  t_collect = time.time() - t0
  jobs = plan_jobs(args.env, refs, mode="baseline", pool=pool, models=models,
                   runs=args.runs, out=out)
  by_model = load_baselines(jobs, error_text)
  if not by_model:
    raise SystemExit(f"no baseline episodes under {out}")
  stats = {m: episode_stats(by_model[m]) for m in models if by_model.get(m)}
  paper = (PAPER_SCIENCEWORLD_TEST_ID if args.env == "scienceworld" and args.split == "test_id"
           and pool.name == "paper6" else None)

  cmd = "python experiments/calibrate_testbed.py " + " ".join(
      shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
  n_refs = len(refs)
  parts = [
      f"# Testbed calibration: {args.env} / {args.split}",
      "",
      f"_{LABEL}_",
      "",
      f"Command: `{cmd.strip()}`  ",
      f"Pool: `{pool.name}` ({pool.source}, fingerprint {pool_fingerprint(pool)}); "
      f"{n_refs} task variations x {args.runs} run(s) per model; limits "
      f"{limits.step_limit} steps / ${limits.cost_limit:.2f} per episode.",
      "",
      "## Profiles",
      "",
      profile_table(pool),
      "",
      "## Single-model baselines (simulated agents)",
      "",
      calibration_table(stats, paper),
      "",
      "`$ / split run`: total cost of one pass over the split (the paper's `$` column is "
      "that, with real LLMs and their real prompts). `-100 rate`: episodes ended by a "
      "wrong `focus on` (or another task failure).",
  ]
  if paper:
    parts += ["Paper columns: the MTRouter paper's real-LLM results on the same split "
              "(for the ordering; not comparable in absolute terms)."]

  rates_kind = observed_rates(by_model, "kind")
  rates_fam = observed_rates(by_model, "family")
  parts += [
      "",
      "## Room for routing (simulated agents)",
      "",
      "### Correct-action rate by step kind, on each model's own episodes",
      "",
      "Rate of turns whose action was the next gold action (calls in brackets); best "
      "per row in bold. Each model is measured on the states its own episode reached "
      "(weaker models spend more turns in error-laden, longer histories).",
      "",
      rate_table(rates_kind, models, "kind"),
      "",
      "### Correct-action rate by task family, on each model's own episodes",
      "",
      rate_table(rates_fam, models, "family"),
      "",
      "### Mean episode score by task family (episodes in brackets)",
      "",
      rate_table(score_by_family(by_model), models, "family", digits=1),
  ]

  sw = switch_in_accuracy(by_model, pool)
  cpc = sw["cost_per_call"]
  acc_kind, acc_fam = collapse(sw["cells"], "kind"), collapse(sw["cells"], "family")
  acc_ctx = collapse(sw["cells"], "context")
  parts += [
      "",
      "### Switch-in accuracy on shared states",
      "",
      f"Probability of the correct next action if the model were called at that turn, "
      f"averaged over the same {sum(len(e.calls) for eps in by_model.values() for e in eps)} "
      "states (every turn of every baseline episode above), from the simulated agent's "
      "formula with the recorded prompt length and error history and no stickiness "
      "(the model was just switched in). Best per row in bold.",
      "",
      rate_table(acc_kind, models, "kind", with_n=False),
      "",
      rate_table(acc_fam, models, "family", with_n=False),
      "",
      rate_table(acc_ctx, models, "context", with_n=False),
      "",
      "Expected $ per call at these states: " + ", ".join(
          f"{short(m)} {cpc[m]:.5f}" for m in models if m in cpc) + ".",
  ]

  oracle_eps = {}
  families = sorted({e.family for eps in by_model.values() for e in eps})
  if not args.no_oracle and args.reference in stats:
    assignments = oracle_assignments(sw["cells"], cpc, models, args.reference)
    oracle_eps = run_oracles(args.env, refs, args.runs, pool, limits, assignments, out,
                             args.workers, fallback=args.reference)
    parts += [
        "",
        "### Oracle mixes (simulated agents; in-sample, gold-aware: an estimate of the "
        "room for routing, not a router result)",
        "",
        "The router sees the next gold step's kind and the task family and calls the "
        "model assigned to that cell: `accuracy` = the highest switch-in accuracy; "
        f"`cost-aware` = the cheapest model at least as accurate as {short(args.reference)} "
        "in that cell. Assignments (from the table above):",
        "",
        assignment_table(assignments, families),
        "",
        oracle_table(stats, oracle_eps, args.reference),
    ]
  elapsed = time.time() - t0
  parts += ["", f"Wall time: {elapsed:.0f} s ({t_collect:.0f} s collecting baselines, "
            f"with --workers {args.workers})."]
  text = "\n".join(parts) + "\n"
  print(text)
  table_path.parent.mkdir(parents=True, exist_ok=True)
  table_path.write_text(text)
  result = {"label": LABEL, "env": args.env, "split": args.split, "pool": pool.name,
            "fingerprint": pool_fingerprint(pool), "runs": args.runs, "refs": n_refs,
            "limits": dataclasses.asdict(limits), "baselines": stats,
            "observed_by_kind": rates_kind, "observed_by_family": rates_fam,
            "score_by_family": score_by_family(by_model),
            "switch_in_by_kind": acc_kind, "switch_in_by_family": acc_fam,
            "switch_in_by_context": acc_ctx,
            "oracle": {k: episode_stats(v) for k, v in oracle_eps.items()},
            "wall_s": elapsed}
  (out / "calibration.json").write_text(json.dumps(result, indent=1, default=str))
  print(f"table: {table_path}", file=sys.stderr)
  return 0


if __name__ == "__main__":
  sys.exit(main())
