"""The `mtr-jax` command line."""

from __future__ import annotations

import argparse
import os
import sys


def _collect(args) -> int:
  from mtr_jax.envs.splits import split_tasks
  from mtr_jax.rollout.collect import collect, select_refs
  from mtr_jax.rollout.episode import Limits
  from mtr_jax.rollout.summary import format_summary

  defaults = {"scienceworld": (50, 2.0), "twx": (30, 1.0)}.get(args.env, (50, 2.0))
  limits = Limits(step_limit=args.step_limit or defaults[0],
                  cost_limit=args.cost_limit if args.cost_limit is not None else defaults[1])
  refs = select_refs(split_tasks(args.env, args.split),
                     tasks=args.tasks.split(",") if args.tasks else None,
                     max_variations=args.max_variations)
  models = [args.model] if args.model else None
  summary = collect(args.env, refs, mode=args.mode, pool=args.pool, models=models,
                    runs=args.runs, workers=args.workers, out=args.out, limits=limits,
                    router_seed=args.seed, split=args.split,
                    progress=not args.no_progress)
  print(format_summary(summary))
  print(f"summary: {os.path.join(args.out, 'summary.json')}")
  return 1 if summary["failed"] else 0


def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(
      prog="mtr-jax",
      description="MTRouter in JAX: cost-aware multi-turn LLM routing, with an "
                  "offline testbed of real text environments and simulated agents.")
  sub = p.add_subparsers(dest="command", required=True)

  c = sub.add_parser("collect", help="run episodes of a split and write trajectories")
  c.add_argument("--env", required=True,
                 help="scienceworld | twx | package.module:EnvFactory")
  c.add_argument("--split", required=True, choices=["train", "val", "test_id", "ood"])
  c.add_argument("--mode", required=True, choices=["baseline", "roulette"])
  c.add_argument("--model", help="baseline model (default: every model of the pool)")
  c.add_argument("--pool", default="paper6", help="pool name or YAML path")
  c.add_argument("--runs", type=int, default=1, help="runs per variation")
  c.add_argument("--workers", type=int, default=1, help="parallel worker processes")
  c.add_argument("--out", required=True, help="output folder")
  c.add_argument("--tasks", help="comma-separated subset of the split's tasks")
  c.add_argument("--max-variations", type=int, help="at most this many per task")
  c.add_argument("--step-limit", type=int, help="default: 50 (ScienceWorld), 30 (twx)")
  c.add_argument("--cost-limit", type=float, help="USD; default 2.00 (ScienceWorld), 1.00 (twx)")
  c.add_argument("--seed", type=int, default=0, help="router seed")
  c.add_argument("--no-progress", action="store_true")
  c.set_defaults(fn=_collect)
  return p


def main(argv=None) -> int:
  args = build_parser().parse_args(argv)
  try:
    return args.fn(args)
  except (ValueError, KeyError, FileNotFoundError) as e:
    msg = e.args[0] if isinstance(e, KeyError) and e.args else e
    print(f"mtr-jax {args.command}: error: {msg}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
