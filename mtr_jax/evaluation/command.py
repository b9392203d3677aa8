"""The `mtr-jax eval` subcommand: its arguments and its handler.

`mtr_jax/cli.py` wires it in with
  from mtr_jax.evaluation.command import add_eval_parser
  add_eval_parser(sub)
This module imports nothing heavy at import time (the handler imports lazily).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_eval_parser(sub) -> argparse.ArgumentParser:
  """Adds the `eval` subcommand to an argparse subparsers object."""
  e = sub.add_parser(
      "eval", help="run one router on a split and write OUT/results.json "
                   "(score with a bootstrap CI, cost, switch rate, specialisation, "
                   "error behaviour)",
      description="Router specs: model:<name> (one model every turn), random, "
                  "checkpoint:<path> (learned, greedy), learned:<path>, mixed:<path>, "
                  "baseline:<path> (a router saved by fit-baseline); "
                  "options as ',key=value' (seed, policy, epsilon, temperature, beta, lam: the "
                  "routing-time cost weight of a two-head estimator), "
                  "e.g. 'checkpoint:runs/ck,policy=softmax,temperature=0.5'. "
                  "With --from-folder, only the trajectories already there are read.")
  e.add_argument("--env", help="scienceworld | twx | package.module:EnvFactory")
  e.add_argument("--split", choices=["train", "val", "test_id", "ood"])
  e.add_argument("--refs", help="instead of --split: explicit task:variation pairs, "
                                "e.g. fetch:0,fetch:1 (needed for your own environment)")
  e.add_argument("--router", help="router spec (see above)")
  e.add_argument("--pool", default="paper6", help="pool name or YAML path")
  e.add_argument("--runs", type=int, default=1, help="runs per variation")
  e.add_argument("--workers", type=int, default=1, help="parallel worker processes")
  e.add_argument("--out", help="output folder (trajectories, summary.json, results.json); "
                               "with --from-folder: the results file "
                               "(default FOLDER/results.json)")
  e.add_argument("--tasks", help="comma-separated subset of the split's tasks")
  e.add_argument("--max-variations", type=int, help="at most this many per task")
  e.add_argument("--step-limit", type=int, help="default: 50 (ScienceWorld), 30 (twx)")
  e.add_argument("--cost-limit", type=float,
                 help="USD; default 2.00 (ScienceWorld), 1.00 (twx)")
  e.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples")
  e.add_argument("--seed", type=int, default=0, help="bootstrap seed")
  e.add_argument("--position-bins", type=int, default=5,
                 help="bins of the normalised turn position t/(T-1)")
  e.add_argument("--from-folder", metavar="FOLDER",
                 help="compute the metrics of the *.traj.json under FOLDER; run nothing")
  e.add_argument("--no-episodes", action="store_true",
                 help="leave the per-episode rows out of results.json")
  e.add_argument("--no-progress", action="store_true")
  e.set_defaults(fn=run_eval)
  return e


def parse_refs(text: str) -> list:
  """'task:variation,...' -> [TaskRef, ...]."""
  from mtr_jax.envs.base import TaskRef
  refs = []
  for item in filter(None, (p.strip() for p in text.split(","))):
    task, sep, variation = item.rpartition(":")
    if not sep or not task or not variation.isdigit():
      raise ValueError(f"--refs: expected task:variation (e.g. fetch:0), got {item!r}")
    refs.append(TaskRef(task, int(variation)))
  if not refs:
    raise ValueError("--refs: no task:variation pairs given")
  return refs


def run_eval(args) -> int:
  """Handler of `mtr-jax eval`; returns the exit code (1 if episodes failed)."""
  from mtr_jax.evaluation.evaluate import (RESULTS_FILE, default_limits, evaluate,
                                           evaluate_folder, format_results)
  from mtr_jax.rollout.episode import Limits
  common = dict(n_boot=args.n_boot, seed=args.seed, n_position_bins=args.position_bins,
                include_episodes=not args.no_episodes)
  if args.from_folder:
    out = Path(args.out) if args.out else Path(args.from_folder) / RESULTS_FILE
    results = evaluate_folder(args.from_folder, args.pool, out=out, **common)
    print(format_results(results))
    print(f"results: {out}")
    return 0
  missing = [flag for flag, value in (("--env", args.env), ("--router", args.router),
                                      ("--split or --refs", args.split or args.refs),
                                      ("--out", args.out)) if not value]
  if missing:
    raise ValueError(f"missing {', '.join(missing)} (or pass --from-folder)")
  if args.split and args.refs:
    raise ValueError("pass --split or --refs, not both")
  base = default_limits(args.env)
  limits = Limits(step_limit=args.step_limit or base.step_limit,
                  cost_limit=(args.cost_limit if args.cost_limit is not None
                              else base.cost_limit))
  split = args.split or parse_refs(args.refs)
  results = evaluate(args.env, split, args.router, runs=args.runs,
                     workers=args.workers, out=args.out, pool=args.pool, limits=limits,
                     max_variations=args.max_variations,
                     tasks=args.tasks.split(",") if args.tasks else None,
                     progress=not args.no_progress, **common)
  print(format_results(results))
  print(f"results: {os.path.join(args.out, RESULTS_FILE)}")
  return 1 if results["collection"]["failed"] else 0
