"""Runs one manifest job in the current process; never raises for a job's failure.

`run_job(workdir, job, header)`:
  1. writes jobs/<id>/status.json = running (attempts + 1, host, pid, start time);
  2. rebuilds the job's config from the manifest's config file, base overrides
     and the job's overrides, and refuses to run if it differs from the config
     recorded in the manifest (the config file was edited since);
  3. calls the entry, `entry(config, workdir=WORKDIR/jobs/<id>)`, with stdout
     and stderr (file descriptors too, so child processes' output as well)
     appended to jobs/<id>/log.txt;
  4. writes status.json = done, or failed with the last lines of the traceback.

Shared estimators (share="estimator", see sweep.py): the entry also gets
`estimator_workdir=WORKDIR/shared/<train_key>`. Until that folder holds the
READY marker, a job runs its entry while holding an exclusive lock on
shared/<train_key>.lock, so exactly one job trains and the others wait; the
marker is written when an entry returns successfully in that folder. Once it is
there, jobs run without the lock (the entry finds the finished estimator). If
the training job fails, the next waiting job gets the lock and trains.

The environment of the entry: WANDB_MODE defaults to offline and
WANDB_RUN_GROUP to the sweep's name, so W&B runs of one sweep are grouped.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Iterator, Mapping

from launch import manifest as mf
from launch import sweep

READY = "READY"
ERROR_LINES, ERROR_CHARS = 25, 4000


def error_tail(text: str) -> str:
  tail = "\n".join(text.rstrip().splitlines()[-ERROR_LINES:])
  return tail[-ERROR_CHARS:]


@contextlib.contextmanager
def captured(log_path: Path) -> Iterator[None]:
  """Appends this process's stdout/stderr (Python streams and fds 1, 2) to log_path."""
  log_path.parent.mkdir(parents=True, exist_ok=True)
  sys.stdout.flush()
  sys.stderr.flush()
  saved_fds = os.dup(1), os.dup(2)
  saved_streams = sys.stdout, sys.stderr
  with open(log_path, "a", buffering=1) as log:
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    try:
      yield
    finally:
      log.flush()
      sys.stdout, sys.stderr = saved_streams
      os.dup2(saved_fds[0], 1)
      os.dup2(saved_fds[1], 2)
      for fd in saved_fds:
        os.close(fd)


@contextlib.contextmanager
def env_defaults(values: Mapping[str, str]) -> Iterator[None]:
  """Sets the environment variables that are unset, for the block only."""
  added = [k for k in values if k not in os.environ]
  os.environ.update({k: values[k] for k in added})
  try:
    yield
  finally:
    for k in added:
      os.environ.pop(k, None)


def _call_entry(entry, config, job_dir: Path, shared: Path | None, job_id: str):
  if shared is None:
    return entry(config, job_dir)
  ready = shared / READY
  if not ready.exists():
    with mf.file_lock(shared.parent / f"{shared.name}.lock"):
      if not ready.exists():
        shared.mkdir(parents=True, exist_ok=True)
        print(f"[launch] training the shared estimator in {shared}", flush=True)
        result = entry(config, job_dir, estimator_workdir=shared)
        mf.write_json_atomic(ready, {"job": job_id, "at": mf.now()})
        return result
  print(f"[launch] reusing the shared estimator in {shared}", flush=True)
  return entry(config, job_dir, estimator_workdir=shared)


def run_job(workdir: str | Path, job: Mapping[str, Any], header: Mapping[str, Any], *,
            capture: bool = True) -> dict[str, Any]:
  """Runs `job` (a manifest entry) of the sweep in `workdir`; returns its final
  state (also written to jobs/<id>/status.json). See the module docstring."""
  workdir = Path(workdir).resolve()
  outputs = mf.job_outputs(job)
  job_dir = workdir / outputs["workdir"]
  shared = workdir / outputs["estimator_workdir"] if outputs["estimator_workdir"] else None
  start = time.time()
  state = {"status": "running", "attempts": int(job.get("attempts") or 0) + 1,
           "error": None, "host": socket.gethostname(), "pid": os.getpid(),
           "timings": {"started_at": mf.now(), "finished_at": None, "seconds": None},
           "outputs": outputs}
  mf.write_status(workdir, job["id"], state)
  env = {"WANDB_MODE": "offline", "WANDB_RUN_GROUP": str(header.get("sweep") or workdir.name)}
  interrupted = False
  with (captured(job_dir / mf.LOG) if capture else contextlib.nullcontext()), env_defaults(env):
    print(f"[launch] {mf.now()} job {job['id']} ({job['name']}) attempt "
          f"{state['attempts']} on {state['host']}", flush=True)
    try:
      config = sweep.resolve(header["config"], header.get("base_overrides", ()),
                             job["overrides"])
      now_json = sweep.config_json(config)
      if now_json != job["config"]:
        diff = mf.config_diff(job["config"], now_json)
        raise RuntimeError("the config file now resolves to another config than the "
                           "manifest recorded for this job; prepare the sweep again. "
                           "Differences: " + "; ".join(diff[:8]))
      entry = sweep.import_entry(header.get("entry") or sweep.DEFAULT_ENTRY)
      _call_entry(entry, config, job_dir, shared, job["id"])
      state["status"] = "done"
    except KeyboardInterrupt:
      state.update(status="failed", error="interrupted (KeyboardInterrupt)")
      interrupted = True
    except BaseException:  # noqa: BLE001 (a job's failure must not stop the sweep)
      text = traceback.format_exc()
      print(text, flush=True)
      state.update(status="failed", error=error_tail(text))
  report = job_dir / mf.REPORT
  state["outputs"] = {**outputs, "report": f"{outputs['workdir']}/{mf.REPORT}"
                      if report.exists() else None}
  state["timings"].update(finished_at=mf.now(), seconds=round(time.time() - start, 3))
  mf.write_status(workdir, job["id"], state)
  if interrupted:
    raise KeyboardInterrupt
  return state


def lost(workdir: str | Path, job: Mapping[str, Any], why: str) -> dict[str, Any]:
  """The state of a job whose process died before it recorded an end: its status
  file if that says done/failed, else failed with `why` (status file written)."""
  state = mf.read_status(workdir, job["id"])
  if state and state.get("status") in ("done", "failed"):
    return state
  state = {**mf.pending_state(job), **(state or {})}
  state.update(status="failed", error=why)
  state["timings"] = {**state["timings"], "finished_at": mf.now()}
  mf.write_status(workdir, job["id"], state)
  return state


def header_of(manifest: Mapping[str, Any]) -> dict[str, Any]:
  return {k: manifest.get(k) for k in ("sweep", "config", "base_overrides", "entry")}


def describe(job: Mapping[str, Any]) -> str:
  """One line: status, id, name, seconds, and the last error line."""
  secs = (job.get("timings") or {}).get("seconds")
  line = f"[{job['status']}] {job['id']} {job['name']}"
  if secs is not None:
    line += f" ({secs:.1f} s)"
  if job["status"] == "failed" and job.get("error"):
    last = job["error"].strip().splitlines()[-1]
    line += f": {last[:160]} (log: {job['outputs']['log']})"
  return line
