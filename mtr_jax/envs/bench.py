"""Throughput of the environments: `python -m mtr_jax.envs.bench [--quick]`.

Runs gold paths (the first in-distribution variation of each task/game) and
reports steps/s (resets excluded), reset times, JVM start time and resident
memory; for ScienceWorld also `scienceworld.ScienceWorldEnv.step` (lists every
valid action each step) in the same process, and our fast path without the
deterministic JVM options.
"""

from __future__ import annotations

import argparse
import subprocess
import time

from mtr_jax.envs.splits import split_tasks


def _rss_mb(pid: int) -> float:
  out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True)
  return int(out.stdout.strip() or 0) / 1024


def _refs(env_name: str, quick: bool):
  seen, refs = set(), []
  for split in ("train", "ood"):
    for r in split_tasks(env_name, split):
      if r.task not in seen:
        seen.add(r.task)
        refs.append(r)
  return refs[::4] if quick else refs


def _run_ours(env, refs, max_steps: int):
  steps, step_s, reset_s = 0, 0.0, 0.0
  for r in refs:
    t0 = time.perf_counter()
    env.reset(r.task, r.variation)
    reset_s += time.perf_counter() - t0
    t0 = time.perf_counter()
    for a in env.gold_actions()[:max_steps]:
      steps += 1
      if env.step(a).done:
        break
    step_s += time.perf_counter() - t0
  return steps / step_s, reset_s / len(refs)


def bench_scienceworld(quick: bool) -> None:
  from mtr_jax.envs.scienceworld import ScienceWorldEnv

  refs = _refs("scienceworld", quick)
  for deterministic in (True, False):
    env = ScienceWorldEnv(deterministic=deterministic)
    rate, reset = _run_ours(env, refs, max_steps=60)
    print(f"scienceworld fast path (deterministic={deterministic}): {rate:.0f} steps/s over "
          f"{len(refs)} tasks, reset {reset * 1000:.0f} ms (cached gold), JVM start "
          f"{env.jvm_start_seconds:.2f} s, JVM RSS {_rss_mb(env.jvm_pid):.0f} MB")
    if deterministic:
      env.use_gold_cache = False
      t0 = time.perf_counter()
      for r in refs:
        env.reset(r.task, r.variation)
      print(f"  reset with gold-path generation: {(time.perf_counter() - t0) / len(refs):.2f} s mean")
    env.close()

  from scienceworld import ScienceWorldEnv as Original
  t0 = time.perf_counter()
  orig = Original("", envStepLimit=10_000)
  start = time.perf_counter() - t0
  steps, step_s = 0, 0.0
  for r in refs[:4]:
    orig.load(r.task, r.variation, "", generateGoldPath=True)
    gold = orig.get_gold_action_sequence()
    orig.reset()
    t0 = time.perf_counter()
    for a in gold[:20]:
      steps += 1
      if orig.step(a)[2]:
        break
    step_s += time.perf_counter() - t0
  print(f"scienceworld env.step (package wrapper): {steps / step_s:.1f} steps/s over "
        f"{min(4, len(refs))} tasks; its JVM start {start:.2f} s, RSS "
        f"{_rss_mb(orig._gateway.java_process.pid):.0f} MB")
  orig.close()


def bench_twx(quick: bool) -> None:
  from mtr_jax.envs.twx import TextWorldExpressEnv

  env = TextWorldExpressEnv()
  refs = [r for s in ("train", "ood") for r in split_tasks("twx", s)]
  rate, reset = _run_ours(env, refs[:40] if quick else refs, max_steps=100)
  print(f"twx: {rate:.0f} steps/s over {len(refs)} games, reset {reset * 1000:.1f} ms, "
        f"JVM start {env.jvm_start_seconds:.2f} s, JVM RSS {_rss_mb(env.jvm_pid):.0f} MB")
  env.close()


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--quick", action="store_true")
  p.add_argument("--env", choices=["scienceworld", "twx", "both"], default="both")
  args = p.parse_args(argv)
  if args.env in ("twx", "both"):
    bench_twx(args.quick)
  if args.env in ("scienceworld", "both"):
    bench_scienceworld(args.quick)


if __name__ == "__main__":
  main()
