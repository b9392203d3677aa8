"""Runs a sweep on this machine in a pool of spawned processes.

  python -m launch.local --config=experiments/configs/default.py:quick --workdir=runs/sweep1
  python -m launch.local --config=experiments/configs/default.py:quick --workdir=runs/sweep1 \
      --workers 2 --config.collect.workers=1        # base override for every job
  python -m launch.local --config=... --workdir=runs/sweep1 --dry-run   # print, write nothing
  python -m launch.local --config=... --workdir=runs/sweep1 --entry my.module:fn
  python -m launch.local --workdir=runs/sweep1 --refresh   # rebuild manifest from status files

Writes WORKDIR/manifest.json (manifest.py), then runs every job that is not
done, at most --workers at a time, each in a fresh spawned process
(concurrent.futures, max_tasks_per_child=1: no JAX or memory state carries over
between jobs). A job's exception fails only that job (status failed, traceback
tail in the manifest, full output in jobs/<id>/log.txt). The manifest is
rewritten atomically after each job. A rerun skips done jobs and retries failed
and unfinished ones. If a worker process dies outright (killed, out of
memory), the pool breaks: the jobs running at that moment are marked failed
("worker process died") and the rest go on in a new pool.

Jobs sharing an estimator (sweep.py): while a group's estimator is not ready,
only one of its jobs is in flight; once it is, the others run in parallel.
Exit status: 0 when every job is done, 1 otherwise.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import multiprocessing
import sys
from pathlib import Path
from typing import Sequence

from launch import cli, runner
from launch import manifest as mf


def _group(job) -> str | None:
  return job["train_key"] if job.get("share") else None


def _ready(workdir: Path, group: str) -> bool:
  return (workdir / mf.SHARED / group / runner.READY).exists()


def _new_pool(workers: int) -> cf.ProcessPoolExecutor:
  return cf.ProcessPoolExecutor(max_workers=workers, max_tasks_per_child=1,
                                mp_context=multiprocessing.get_context("spawn"))


def run_local(path: str | Path, *, workers: int = 2, verbose: bool = True) -> dict:
  """Runs the manifest's jobs that are not done; returns the final manifest."""
  path = mf.manifest_path(Path(path).resolve())
  workdir = path.parent
  manifest = mf.load(path)
  header = runner.header_of(manifest)
  queue = [j for j in manifest["jobs"] if j["status"] != "done" and not j.get("orphan")]
  say = print if verbose else (lambda *a, **k: None)
  say(f"{len(queue)} of {len(manifest['jobs'])} jobs to run in {workdir} "
      f"({workers} workers)", flush=True)
  inflight: dict[cf.Future, dict] = {}
  groups: collections.Counter = collections.Counter()
  pool = _new_pool(workers)
  try:
    while queue or inflight:
      i = 0
      while len(inflight) < workers and i < len(queue):
        job, group = queue[i], _group(queue[i])
        if group and groups[group] and not _ready(workdir, group):
          i += 1  # wait for the job that trains this group's estimator
          continue
        queue.pop(i)
        groups[group] += 1
        state = {**{k: job[k] for k in mf.STATE_KEYS if k in job},
                 "status": "running", "error": None}
        mf.write_status(workdir, job["id"], state)
        mf.update(path, {job["id"]: state})
        inflight[pool.submit(runner.run_job, str(workdir), job, header)] = job
      done, _ = cf.wait(inflight, return_when=cf.FIRST_COMPLETED)
      broken = False
      for fut in done:
        job = inflight.pop(fut)
        groups[_group(job)] -= 1
        try:
          state = fut.result()
        except cf.process.BrokenProcessPool as e:
          broken = True
          state = runner.lost(workdir, job, f"worker process died ({e}); this job or "
                              "one running beside it crashed; rerun to retry")
        except Exception as e:  # noqa: BLE001 (e.g. an unpicklable result)
          state = runner.lost(workdir, job, f"{type(e).__name__}: {e}")
        manifest = mf.update(path, {job["id"]: state})
        say(runner.describe(mf.find(manifest, job_id=job["id"])), flush=True)
      if broken:
        for fut in list(inflight):  # every future of a broken pool fails
          job = inflight.pop(fut)
          groups[_group(job)] -= 1
          state = runner.lost(workdir, job, "worker process died beside another job; "
                              "rerun to retry")
          manifest = mf.update(path, {job["id"]: state})
          say(runner.describe(mf.find(manifest, job_id=job["id"])), flush=True)
        pool.shutdown(wait=True, cancel_futures=True)
        pool = _new_pool(workers)
  except KeyboardInterrupt:
    for job in inflight.values():
      runner.lost(workdir, job, "interrupted (the launcher was stopped)")
    raise
  finally:
    pool.shutdown(wait=True, cancel_futures=True)
    mf.save(path, mf.load(path))
    manifest = mf.load(path)
  c = manifest["counts"]
  say(f"manifest: {path}\n" + ", ".join(f"{c[s]} {s}" for s in mf.STATUSES), flush=True)
  return manifest


def main(argv: Sequence[str] | None = None) -> int:
  p = cli.parser("python -m launch.local", __doc__.split("\n\n")[0], config_required=False)
  p.add_argument("--workers", type=int, default=2, help="jobs at a time (default 2)")
  p.add_argument("--dry-run", action="store_true",
                 help="print the jobs and what would run; write and run nothing")
  p.add_argument("--refresh", action="store_true",
                 help="only rewrite the manifest from the jobs' status files")
  args, overrides = cli.parse(p, argv)
  if args.refresh:
    m = mf.load(args.workdir)
    mf.save(mf.manifest_path(args.workdir), m)
    print(cli.table(m))
    return 0
  if not args.config:
    p.error("--config is required (unless --refresh)")
  if args.workers < 1:
    p.error("--workers must be at least 1")
  if args.dry_run:
    try:
      m = cli.preview(args.config, args.workdir, overrides, args.entry)
    except cli.USER_ERRORS as e:
      p.error(f"{type(e).__name__}: {e}")
    todo = sum(j["status"] != "done" and not j.get("orphan") for j in m["jobs"])
    print(cli.table(m))
    print(f"dry run: would write {Path(args.workdir).resolve() / mf.MANIFEST} and run "
          f"{todo} job(s) with entry {m['entry']}; nothing was written")
    return 0
  path = cli.prepare_or_exit(p, args, overrides)
  m = run_local(path, workers=args.workers)
  return 0 if m["counts"]["done"] == sum(not j.get("orphan") for j in m["jobs"]) else 1


if __name__ == "__main__":
  sys.exit(main())
