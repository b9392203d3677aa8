"""Collection: many episodes of one split, in parallel workers, resumable.

Layout of an output folder:
  roulette, learned, mixed:  OUT/<task>/<task>_var<v>_run<r>.traj.json
  baseline:  OUT/<model slug>/<task>/<task>_var<v>_run<r>.traj.json
  OUT/summary.json   (score, success, cost, steps, exit statuses, model usage;
                      overall, per task and per model)

Each worker process owns one environment (one JVM for ScienceWorld) and reuses it
across episodes. A finished episode is never rewritten: a rerun skips it. An
environment crash loses only the current episode, which is retried on a fresh
environment; a worker process that dies is replaced and its episode retried.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import importlib
import json
import multiprocessing as mp
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Callable, Sequence

from tqdm.auto import tqdm

from mtr_jax.agents.simulated import stable_hash
from mtr_jax.pool import Pool, load_pool
from mtr_jax.rollout.episode import Limits, run_episode
from mtr_jax.rollout.summary import summarize, write_json_atomic
from mtr_jax.routing.base import FixedRouter, RandomRouter, Router

MODES = ("baseline", "roulette", "learned", "mixed", "router")
MAX_ATTEMPTS = 3


@dataclasses.dataclass(frozen=True)
class Job:
  task: str
  variation: int
  run: int
  model: str | None  # baseline model; None for a routed episode
  path: str
  seed: int

  @property
  def task_id(self) -> str:
    return f"{self.task}_var{self.variation}_run{self.run}"


def model_slug(name: str) -> str:
  return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def episode_seed(task: str, variation: int, run: int) -> int:
  """The same episode seed for every router (and every way of building the same
  environment), so runs of different routers are counterfactually paired."""
  return stable_hash(f"{task}/{variation}/{run}")


def select_refs(refs, *, tasks: Sequence[str] | None = None,
                max_variations: int | None = None) -> list:
  """A subset of a split: only `tasks`, and at most `max_variations` per task."""
  refs = list(refs)
  if tasks:
    unknown = set(tasks) - {r.task for r in refs}
    if unknown:
      raise ValueError(f"tasks {sorted(unknown)} are not in this split "
                       f"(it has {sorted({r.task for r in refs})})")
    refs = [r for r in refs if r.task in set(tasks)]
  if max_variations:
    seen: dict[str, int] = {}
    kept = []
    for r in refs:
      seen[r.task] = seen.get(r.task, 0) + 1
      if seen[r.task] <= max_variations:
        kept.append(r)
    refs = kept
  return refs


def plan_jobs(env_name: str, task_refs, *, mode: str, pool: Pool,
              models: Sequence[str] | None, runs: int, out: Path) -> list[Job]:
  if mode not in MODES:
    raise ValueError(f"unknown mode {mode!r} (known: {list(MODES)})")
  if runs < 1:
    raise ValueError(f"--runs must be >= 1, got {runs}")
  if mode == "baseline":
    models = list(models or pool.names)
    for m in models:
      pool[m]  # raises a clear KeyError for an unknown model
    folders = [(m, out / model_slug(m)) for m in models]
  else:
    if models:
      raise ValueError("--model only applies to --mode baseline")
    folders = [(None, out)]
  jobs = []
  for model, folder in folders:
    for ref in task_refs:
      for r in range(runs):
        job_id = f"{ref.task}_var{ref.variation}_run{r}"
        jobs.append(Job(ref.task, ref.variation, r, model,
                        str(folder / ref.task / f"{job_id}.traj.json"),
                        episode_seed(ref.task, ref.variation, r)))
  return jobs


# ---------------------------------------------------------------------------
# Worker side: one environment per process, reused across episodes.

_WORKER: dict = {}


def resolve_env_factory(env_name: str) -> Callable:
  """'scienceworld' | 'twx', or 'package.module:Factory' for your own environment."""
  if ":" in env_name:
    module, attr = env_name.split(":", 1)
    return getattr(importlib.import_module(module), attr)
  from mtr_jax.envs import make_env
  return lambda: make_env(env_name)


@dataclasses.dataclass(frozen=True)
class RouterSpec:
  """How each worker builds the router of routed (non-baseline) episodes."""

  mode: str = "roulette"
  seed: int = 0
  checkpoint: str | None = None   # learned / mixed
  policy: str = "greedy"          # learned: greedy | epsilon | softmax
  epsilon: float = 0.1
  temperature: float = 1.0
  beta: float = 0.5               # mixed
  overrides: str = ""             # router: routing-time settings, "k=v;k=v"
  lam: float | None = None        # learned / mixed: routing-time lambda (two-head)

  def build(self) -> Router:
    if self.mode == "roulette":
      return RandomRouter(self.seed)
    if self.mode == "router":     # a fitted baseline saved by `mtr-jax fit-baseline`
      from mtr_jax.routing.baselines import load_baseline, parse_overrides
      if not self.checkpoint:
        raise ValueError("--mode router needs --checkpoint (a saved baseline folder)")
      return load_baseline(self.checkpoint, seed=self.seed,
                           **parse_overrides(self.overrides))
    from mtr_jax.routing.learned import LearnedRouter
    from mtr_jax.routing.policies import Policy
    if self.checkpoint is None:
      raise ValueError(f"--mode {self.mode} needs --checkpoint")
    policy = (Policy("mixed", beta=self.beta) if self.mode == "mixed" else
              Policy(self.policy, epsilon=self.epsilon, temperature=self.temperature))
    return LearnedRouter.from_checkpoint(self.checkpoint, policy=policy, seed=self.seed,
                                         lam=self.lam)


def _init_worker(env_name: str, pool_source: str, limits: Limits, spec: RouterSpec):
  from mtr_jax.agents import make_backends
  _WORKER.update(env_name=env_name, factory=resolve_env_factory(env_name),
                 pool=load_pool(pool_source), limits=limits, env=None,
                 backends=make_backends(), spec=spec, router=None)


def _close_env():
  env = _WORKER.get("env")
  _WORKER["env"] = None
  if env is not None:
    try:
      env.close()
    except Exception:  # a crashed environment may not close cleanly
      pass


def _router(job: Job) -> Router:
  if job.model is not None:
    return FixedRouter(job.model)
  if _WORKER["router"] is None:  # built once per worker (a learned one loads weights)
    _WORKER["router"] = _WORKER["spec"].build()
  return _WORKER["router"]


def run_job(job: Job, env_retries: int = 1) -> dict:
  """Runs one episode and writes it. Returns {'path'} or {'path', 'error'}."""
  from mtr_jax.trajectories import write_trajectory
  last = None
  for _ in range(env_retries + 1):
    try:
      if _WORKER["env"] is None:
        _WORKER["env"] = _WORKER["factory"]()
      traj = run_episode(
          _WORKER["env"], job.task, job.variation, pool=_WORKER["pool"],
          router=_router(job), backends=_WORKER["backends"], seed=job.seed,
          limits=_WORKER["limits"], task_id=job.task_id,
          extra_info={"run": job.run,
                      "policy": "fixed" if job.model else _WORKER["spec"].mode,
                      "testbed": "simulated agents"})
      write_trajectory(job.path, traj)
      return {"path": job.path}
    except Exception:  # an environment crash: retry on a fresh environment
      last = traceback.format_exc(limit=3)
      _close_env()
  return {"path": job.path, "error": last}


# ---------------------------------------------------------------------------
# Driver.

def _run_serial(jobs, progress) -> dict[str, str]:
  failures = {}
  for job in jobs:
    res = run_job(job)
    if "error" in res:
      failures[job.path] = res["error"]
    progress.update(1)
  return failures


def _run_parallel(jobs, workers, initargs, progress) -> dict[str, str]:
  """Runs jobs in a process pool; a dead worker's episode is retried elsewhere."""
  attempts = {j.path: 0 for j in jobs}
  pending = list(jobs)
  failures: dict[str, str] = {}
  ctx = mp.get_context("spawn")
  while pending:
    with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                initargs=initargs) as ex:
      futures = {ex.submit(run_job, j): j for j in pending}
      pending = []
      for fut in cf.as_completed(futures):
        job = futures[fut]
        try:
          res = fut.result()
        except cf.process.BrokenProcessPool as e:
          attempts[job.path] += 1
          if attempts[job.path] < MAX_ATTEMPTS:
            pending.append(job)
          else:
            failures[job.path] = f"worker died {MAX_ATTEMPTS} times: {e}"
            progress.update(1)
          continue
        if "error" in res:
          failures[job.path] = res["error"]
        progress.update(1)
    # A broken pool fails every queued future; only those not written are retried.
    pending = [j for j in pending if not Path(j.path).exists()]
  return failures


def collect(env_name: str, task_refs, *, mode: str, pool: str | Path = "paper6",
            models: Sequence[str] | None = None, runs: int = 1, workers: int = 1,
            out: str | Path, limits: Limits = Limits(),
            router: RouterSpec | None = None, split: str | None = None,
            progress: bool = True) -> dict:
  """Collects the episodes of `task_refs` that are not on disk yet; returns and
  writes the summary of every planned episode found on disk."""
  out = Path(out)
  pool_obj = load_pool(pool)
  jobs = plan_jobs(env_name, task_refs, mode=mode, pool=pool_obj, models=models,
                   runs=runs, out=out)
  router = router or RouterSpec(mode="roulette" if mode == "baseline" else mode)
  if mode != "baseline" and router.mode != mode:
    raise ValueError(f"mode {mode!r} does not match the router spec's {router.mode!r}")
  if mode in ("learned", "mixed", "router") and not router.checkpoint:
    raise ValueError(f"--mode {mode} needs a checkpoint (--checkpoint)")
  router_record = dataclasses.asdict(router) if mode != "baseline" else None
  _check_same_router(out, mode, router_record)
  todo = [j for j in jobs if not Path(j.path).exists()]
  bar = tqdm(total=len(todo), desc=f"collect {env_name}/{split or 'tasks'} ({mode})",
             unit="ep", disable=not progress, file=sys.stderr)
  initargs = (env_name, pool_obj.source, limits, router)
  if workers <= 1:
    _init_worker(*initargs)
    try:
      failures = _run_serial(todo, bar)
    finally:
      _close_env()
  else:
    failures = _run_parallel(todo, workers, initargs, bar)
  bar.close()
  summary = summarize([j.path for j in jobs if Path(j.path).exists()], pool=pool_obj)
  summary.update(
      env=env_name, split=split, mode=mode, pool=pool_obj.name, runs=runs,
      planned=len(jobs), collected_now=len(todo) - len(failures),
      skipped_existing=len(jobs) - len(todo), failed=len(failures),
      failures={os.path.relpath(p, out): e for p, e in failures.items()},
      limits=dataclasses.asdict(limits),
      router=router_record,
      note=("simulated-agent testbed results (no LLM was called)"
            if all(m.backend == "simulated" for m in pool_obj) else
            "includes real-LLM calls"))
  write_json_atomic(out / "summary.json", summary)
  return summary


def _check_same_router(out: Path, mode: str, router: dict | None) -> None:
  """A folder holds one router's episodes: resuming with another router (another
  checkpoint, policy or seed) would silently mix them, so it is an error."""
  path = out / "summary.json"
  if not path.exists():
    return
  try:
    before = json.loads(path.read_text())
  except (OSError, ValueError):
    return  # an unreadable summary is rewritten at the end
  old = before.get("router")
  if isinstance(old, dict) and router is not None:
    # a summary written before a RouterSpec field existed has that field's default
    old = {**dataclasses.asdict(RouterSpec()), **old}
  if before.get("mode") != mode or old != router:
    raise ValueError(
        f"{out} holds episodes of mode={before.get('mode')!r} router={before.get('router')} "
        f"but this run is mode={mode!r} router={router}: use another --out")


def load_summary(out: str | Path) -> dict:
  return json.loads((Path(out) / "summary.json").read_text())
