"""The `mtr-jax` command line."""

from __future__ import annotations

import argparse
import os
import sys


def _collect(args) -> int:
  from mtr_jax.envs.splits import split_tasks
  from mtr_jax.rollout.collect import RouterSpec, collect, select_refs
  from mtr_jax.rollout.episode import Limits
  from mtr_jax.rollout.summary import format_summary

  defaults = {"scienceworld": (50, 2.0), "twx": (30, 1.0)}.get(args.env, (50, 2.0))
  limits = Limits(step_limit=args.step_limit or defaults[0],
                  cost_limit=args.cost_limit if args.cost_limit is not None else defaults[1])
  refs = select_refs(split_tasks(args.env, args.split),
                     tasks=args.tasks.split(",") if args.tasks else None,
                     max_variations=args.max_variations)
  models = [args.model] if args.model else None
  router = RouterSpec(mode="roulette" if args.mode == "baseline" else args.mode,
                      seed=args.seed, checkpoint=args.checkpoint, policy=args.policy,
                      epsilon=args.epsilon, temperature=args.temperature, beta=args.beta,
                      overrides=args.overrides, lam=args.lam)
  summary = collect(args.env, refs, mode=args.mode, pool=args.pool, models=models,
                    runs=args.runs, workers=args.workers, out=args.out, limits=limits,
                    router=router, split=args.split, progress=not args.no_progress)
  print(format_summary(summary))
  print(f"summary: {os.path.join(args.out, 'summary.json')}")
  return 1 if summary["failed"] else 0


def _train(args) -> int:
  from mtr_jax.configs import load_config
  from mtr_jax.training.dataset import train_from_config
  config = load_config(args.config, args.overrides)
  result = train_from_config(config, args.workdir, progress=not args.no_progress)
  print(f"best validation MSE {result.best_val_loss:.5f} at epoch {result.best_epoch} "
        f"(initial {result.initial_val_loss:.5f}); stopped: {result.stop_reason}; "
        f"checkpoints: {result.checkpoint_dir}")
  return 0


def _route(args) -> int:
  from mtr_jax.routing.inspect import route_report
  print(route_report(args.checkpoint, args.traj, step=args.step, pool=args.pool,
                     budget=args.budget))
  return 0


def _fit_baseline(args) -> int:
  from mtr_jax.pool import load_pool
  from mtr_jax.routing.baselines import PromptedLLMRouter, fit_baseline, parse_overrides
  if args.kind == "llm_router":
    import yaml
    if not args.policy:
      raise ValueError("llm_router needs --policy (a pool-style YAML entry of the policy LLM)")
    with open(args.policy) as fh:
      PromptedLLMRouter(yaml.safe_load(fh)).save(args.out)
  else:
    from mtr_jax.embeddings import make_encoder
    if not args.data:
      raise ValueError(f"{args.kind} needs --data (trajectory folders)")
    fit_baseline(args.kind, args.data, load_pool(args.pool), make_encoder(args.encoder),
                 out=args.out, cache_dir=args.cache_dir, **parse_overrides(args.set))
  print(f"saved {args.kind} router to {args.out}")
  return 0


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
  c.add_argument("--mode", required=True,
                 choices=["baseline", "roulette", "learned", "mixed", "router"],
                 help="baseline: one model; roulette: uniform each turn; learned: a "
                      "trained estimator (--checkpoint, --policy); mixed: the paper's "
                      "Stage B beta-mixed policy (--checkpoint, --beta); router: a "
                      "fitted baseline router (--checkpoint = its folder)")
  c.add_argument("--overrides", default="",
                 help="router mode: routing-time settings, e.g. 'lam=0.5;cost_weight=0.1'")
  c.add_argument("--checkpoint", help="estimator checkpoint (a train workdir) for learned/mixed")
  c.add_argument("--policy", default="greedy", choices=["greedy", "epsilon", "softmax"])
  c.add_argument("--epsilon", type=float, default=0.1)
  c.add_argument("--temperature", type=float, default=1.0)
  c.add_argument("--beta", type=float, default=0.5, help="mixed: probability of the greedy choice")
  c.add_argument("--lam", type=float, default=None,
                 help="learned/mixed: the routing-time cost weight of a two-head estimator "
                      "(default: the checkpoint's training lambda)")
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

  t = sub.add_parser("train", help="train an estimator on collected trajectories",
                     description="Overrides: --config.a.b=value (YAML values), e.g. "
                                 "--config.train.optim.lr=3e-4")
  t.add_argument("--config", default="experiments/configs/train.py",
                 help="config file, optionally with :arg (e.g. train.py:quick)")
  t.add_argument("--workdir", required=True, help="checkpoints, metrics.jsonl, wandb/")
  t.add_argument("--no-progress", action="store_true")
  t.set_defaults(fn=_train, allow_overrides=True)

  r = sub.add_parser("route", help="print each model's score for one step of a trajectory")
  r.add_argument("--checkpoint", required=True)
  r.add_argument("--traj", required=True, help="a *.traj.json file")
  r.add_argument("--step", type=int, default=-1,
                 help="the step (0-based; -1: after the last step)")
  r.add_argument("--pool", default=None, help="default: the checkpoint's pool")
  r.add_argument("--budget", type=float, default=None, help="episode budget (USD)")
  r.set_defaults(fn=_route)

  from mtr_jax.evaluation.command import add_eval_parser
  add_eval_parser(sub)

  f = sub.add_parser("fit-baseline", help="fit a baseline router on collected trajectories")
  f.add_argument("kind", help="routerdc | embedllm | avengerspro | ridge | cluster_q | llm_router")
  f.add_argument("--data", nargs="+", help="trajectory folders")
  f.add_argument("--pool", default="paper6")
  f.add_argument("--encoder", default="all-MiniLM-L6-v2")
  f.add_argument("--cache-dir", help="embedding cache folder")
  f.add_argument("--out", required=True, help="folder for the fitted router")
  f.add_argument("--set", default="", help="hyperparameters, e.g. 'k=16;cost_weight=0.3'")
  f.add_argument("--policy", help="llm_router: the policy LLM's pool-style YAML entry")
  f.set_defaults(fn=_fit_baseline)
  return p


def main(argv=None) -> int:
  args, rest = build_parser().parse_known_args(argv)
  args.overrides = [a for a in rest if a.startswith("--config.")]
  unknown = [a for a in rest if not a.startswith("--config.")]
  if unknown or (args.overrides and not getattr(args, "allow_overrides", False)):
    build_parser().error(f"unrecognized arguments: {' '.join(unknown or args.overrides)}")
  try:
    return args.fn(args)
  except (ValueError, KeyError, FileNotFoundError) as e:
    msg = e.args[0] if isinstance(e, KeyError) and e.args else e
    print(f"mtr-jax {args.command}: error: {msg}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
