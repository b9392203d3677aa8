"""Testbed speed: steps/s and episodes/s per environment, and the simulator's share.

  python benchmarks/testbed.py                      # both environments
  python benchmarks/testbed.py --env twx --episodes 40

One worker process, roulette routing over paper6 on the train split. Time is
split into: the environment (reset + step), the simulated agents (the backend
call and token counting, less the environment replays it requests to verify a
wrong `focus on`, reported apart) and the rest of the loop. Targets (issue 2): the
simulator adds < 10% to environment time; ScienceWorld >= 30 steps/s per
worker; TextWorld-Express >= 300 steps/s.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from mtr_jax.agents.simulated import SimulatedBackend
from mtr_jax.agents.tokens import default_counter
from mtr_jax.envs import make_env
from mtr_jax.envs.splits import split_tasks
from mtr_jax.pool import load_pool
from mtr_jax.rollout.collect import episode_seed, select_refs
from mtr_jax.rollout.episode import Limits, run_episode
from mtr_jax.routing import RandomRouter


class _Timed:
  """Wraps an object and accumulates wall time spent in the named methods."""

  def __init__(self, inner, methods):
    self._inner = inner
    self.by_method = {name: 0.0 for name in methods}
    for name in methods:
      setattr(self, name, self._wrap(name, getattr(inner, name)))

  @property
  def seconds(self) -> float:
    return sum(self.by_method.values())

  def _wrap(self, name, fn):
    def timed(*a, **kw):
      t = time.perf_counter()
      try:
        return fn(*a, **kw)
      finally:
        self.by_method[name] += time.perf_counter() - t
    return timed

  def __getattr__(self, name):
    return getattr(self._inner, name)


def bench(env_name: str, episodes: int, step_limit: int) -> dict:
  pool = load_pool("paper6")
  counter = default_counter()
  t0 = time.perf_counter()
  raw_env = make_env(env_name)
  startup = time.perf_counter() - t0
  # wrong_critical_action replays the episode in the environment to verify that a
  # wrong `focus on` really fails: environment work that the simulator requests
  # (inside its `complete` call). It is reported apart from both.
  env = _Timed(raw_env, ["reset", "step", "wrong_critical_action"])
  # Counting prompt tokens is part of simulating the agent: time it with the backend.
  agent = _Timed(SimulatedBackend(), ["complete"])
  tokens = _Timed(counter, ["count_messages"])
  refs = select_refs(split_tasks(env_name, "train"), max_variations=3)
  refs = (refs * (episodes // max(len(refs), 1) + 1))[:episodes]
  steps = 0
  t0 = time.perf_counter()
  for i, ref in enumerate(refs):
    traj = run_episode(env, ref.task, ref.variation, pool=pool, router=RandomRouter(0),
                       backends={"simulated": agent}, seed=episode_seed(ref.task, ref.variation, i),
                       limits=Limits(step_limit=step_limit, cost_limit=100.0),
                       counter=tokens)
    steps += traj["info"]["model_stats"]["api_calls"]
  total = time.perf_counter() - t0
  raw_env.close()
  verify = env.by_method["wrong_critical_action"]
  env_s = env.by_method["reset"] + env.by_method["step"]
  sim = agent.seconds - verify + tokens.seconds
  return {
      "env": env_name, "episodes": len(refs), "steps": steps,
      "env_startup_s": round(startup, 2),
      "total_s": round(total, 2),
      "steps_per_s": round(steps / total, 1),
      "episodes_per_s": round(len(refs) / total, 3),
      "env_s": round(env_s, 2),
      "env_steps_per_s": round(steps / env_s, 1),
      "wrong_focus_verification_s": round(verify, 3),
      "simulator_s": round(sim, 3),
      "simulator_us_per_step": round(1e6 * sim / steps, 1),
      "simulator_over_env": round(sim / env_s, 4),
      "simulator_share_of_total": round(sim / total, 4),
  }


def main():
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--env", choices=["scienceworld", "twx", "both"], default="both")
  ap.add_argument("--episodes", type=int, default=None,
                  help="default: 20 (scienceworld), 100 (twx)")
  ap.add_argument("--step-limit", type=int, default=50)
  args = ap.parse_args()
  names = ["twx", "scienceworld"] if args.env == "both" else [args.env]
  print(f"# testbed benchmark on {platform.processor() or platform.machine()}, "
        f"1 worker, roulette over paper6 (simulated agents)")
  for name in names:
    n = args.episodes or (20 if name == "scienceworld" else 100)
    print(json.dumps(bench(name, n, args.step_limit)))


if __name__ == "__main__":
  main()
