"""The one manifest of a sweep, and the per-job status files behind it.

Layout of a sweep's WORKDIR:

  manifest.json             every job: id, overrides, config, status, outputs...
  jobs/<id>/                the job's workdir (what its entry writes)
  jobs/<id>/status.json     the job's own state, written only by whoever runs it
  jobs/<id>/log.txt         the job's stdout and stderr
  shared/<train_key>/       an estimator shared by routing-time jobs (sweep.py)

manifest.json:
  {"format": "mtr-jax-sweep/1", "sweep": NAME, "config": "/abs/cfg.py:arg",
   "base_overrides": ["collect.workers=1"], "entry": "module:function",
   "created_at": ISO, "updated_at": ISO,
   "counts": {"pending": n, "running": n, "done": n, "failed": n},
   "jobs": [{"index", "id", "name", "overrides", "share", "train_key", "config",
             "status", "attempts", "error", "timings": {"started_at",
             "finished_at", "seconds"}, "host", "pid",
             "outputs": {"workdir", "log", "report", "estimator_workdir"}}, ...]}
Paths in `outputs` are relative to WORKDIR. `error` is the tail of the
traceback of a failed job (None otherwise).

Concurrency. A job's status.json is written only by the process that runs the
job (atomically), so jobs never contend for it. manifest.json is a merged view:
every writer holds an exclusive fcntl lock on WORKDIR/.manifest.lock, re-reads
the manifest, overlays the status files and replaces the file atomically
(tmp + rename). Readers (`load`) always overlay the status files, so even a
manifest left behind by a crashed writer reads right. On file systems where
fcntl locks do not work across nodes (some NFS set-ups), the status files still
hold the truth; `python -m launch.local --refresh` rewrites the manifest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from mtr_jax.rollout.summary import write_json_atomic as _write_json_atomic

FORMAT = "mtr-jax-sweep/1"
MANIFEST = "manifest.json"
JOBS, SHARED = "jobs", "shared"
STATUS, LOG, REPORT = "status.json", "log.txt", "report.json"
STATUSES = ("pending", "running", "done", "failed")
STATE_KEYS = ("status", "attempts", "error", "timings", "host", "pid", "outputs")


def now() -> str:
  return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: str | Path, obj) -> Path:
  """Atomic JSON write (the collector's, with the manifest's compact indent)."""
  return _write_json_atomic(path, obj, indent=1)


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
  """An exclusive fcntl lock on `path` (created if missing), held in the block."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "a") as f:
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def manifest_path(workdir_or_file: str | Path) -> Path:
  p = Path(workdir_or_file)
  return p if p.suffix == ".json" else p / MANIFEST


def job_outputs(job: Mapping[str, Any]) -> dict[str, Any]:
  base = f"{JOBS}/{job['id']}"
  shared = f"{SHARED}/{job['train_key']}" if job.get("share") else None
  return {"workdir": base, "log": f"{base}/{LOG}", "report": None,
          "estimator_workdir": shared}


def pending_state(job: Mapping[str, Any]) -> dict[str, Any]:
  return {"status": "pending", "attempts": 0, "error": None,
          "timings": {"started_at": None, "finished_at": None, "seconds": None},
          "host": None, "pid": None, "outputs": job_outputs(job)}


def status_file(workdir: str | Path, job_id: str) -> Path:
  return Path(workdir) / JOBS / job_id / STATUS


def write_status(workdir: str | Path, job_id: str, state: Mapping[str, Any]) -> None:
  write_json_atomic(status_file(workdir, job_id), {k: state[k] for k in STATE_KEYS
                                                   if k in state})


def read_status(workdir: str | Path, job_id: str) -> dict[str, Any] | None:
  path = status_file(workdir, job_id)
  try:
    return json.loads(path.read_text())
  except FileNotFoundError:
    return None
  except json.JSONDecodeError:  # written atomically, so only a foreign edit
    return None


def counts(jobs: Sequence[Mapping[str, Any]]) -> dict[str, int]:
  out = {s: 0 for s in STATUSES}
  for j in jobs:
    out[j["status"]] = out.get(j["status"], 0) + 1
  return out


def _overlay(manifest: dict, workdir: Path) -> dict:
  for job in manifest["jobs"]:
    state = read_status(workdir, job["id"])
    if state:
      job.update({k: state[k] for k in STATE_KEYS if k in state})
    elif job.get("status") != "pending":
      job.update(pending_state(job))  # its folder was deleted: run it again
  manifest["counts"] = counts(manifest["jobs"])
  return manifest


def load(path: str | Path) -> dict[str, Any]:
  """The manifest, with every job's status file laid over it."""
  path = manifest_path(path)
  if not path.exists():
    raise FileNotFoundError(f"no sweep manifest at {path}")
  manifest = json.loads(path.read_text())
  if manifest.get("format") != FORMAT:
    raise ValueError(f"{path}: not a {FORMAT} manifest (format {manifest.get('format')!r})")
  return _overlay(manifest, path.parent)


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
  if not isinstance(tree, dict):
    return {prefix: tree}
  out: dict[str, Any] = {}
  for k, v in tree.items():
    out.update(_flat(v, f"{prefix}.{k}" if prefix else k))
  return out


def config_diff(old: Mapping, new: Mapping) -> list[str]:
  a, b = _flat(dict(old)), _flat(dict(new))
  return [f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}"
          for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]


def build(header: Mapping[str, Any], jobs: Sequence[Any],
          existing: Mapping[str, Any] | None = None) -> dict[str, Any]:
  """A manifest for `jobs` (sweep.Job), keeping the state of jobs already in
  `existing`. A finished job whose resolved config changed is an error (its
  outputs belong to the old config); jobs no longer in the sweep are kept,
  marked `orphan`, and are not run."""
  old = {j["id"]: j for j in (existing or {}).get("jobs", [])}
  changed = []
  entries = []
  for job in jobs:
    entry = job.to_dict()
    prev = old.pop(job.id, None)
    if prev is not None and prev["status"] == "done" and prev["config"] != entry["config"]:
      changed.append(f"{job.name} ({job.id}): "
                     + "; ".join(config_diff(prev["config"], entry["config"])[:5]))
    state = {k: prev[k] for k in STATE_KEYS if k in prev} if prev else pending_state(entry)
    state["outputs"] = {**job_outputs(entry), **{k: v for k, v in state["outputs"].items()
                                                 if k == "report"}}
    entries.append({**entry, **state})
  if changed:
    raise ValueError("finished jobs would now run with another config; use a new "
                     "--workdir (or delete their jobs/<id> folders and manifest "
                     "entries):\n  " + "\n  ".join(changed))
  next_index = len(entries)
  for prev in sorted(old.values(), key=lambda j: j["index"]):
    entries.append({**prev, "index": next_index, "orphan": True})
    next_index += 1
  created = (existing or {}).get("created_at") or now()
  return {"format": FORMAT, **header, "created_at": created, "updated_at": now(),
          "counts": counts(entries), "jobs": entries}


def save(path: str | Path, manifest: Mapping[str, Any]) -> Path:
  """Writes the manifest (under the lock, with the status files laid over it)."""
  path = manifest_path(path)
  with file_lock(path.parent / ".manifest.lock"):
    m = _overlay(json.loads(json.dumps(manifest)), path.parent)
    m["updated_at"] = now()
    return write_json_atomic(path, m)


def update(path: str | Path, states: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
  """Sets the state of some jobs ({job id: state}) in the manifest on disk:
  read, lay the status files and `states` over it, write; under the lock."""
  path = manifest_path(path)
  with file_lock(path.parent / ".manifest.lock"):
    m = _overlay(json.loads(path.read_text()), path.parent)
    for job in m["jobs"]:
      if job["id"] in states:
        job.update({k: v for k, v in states[job["id"]].items() if k in STATE_KEYS})
    m["counts"] = counts(m["jobs"])
    m["updated_at"] = now()
    write_json_atomic(path, m)
  return m


def find(manifest: Mapping[str, Any], *, index: int | None = None, job_id: str | None = None,
         overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
  """One job by its index, its id, or its overrides (values compared with ==,
  so 1 matches 1.0)."""
  jobs = manifest["jobs"]
  if index is not None:
    if not 0 <= index < len(jobs):
      raise IndexError(f"job index {index} out of range (the manifest has {len(jobs)} jobs)")
    return jobs[index]
  if job_id is not None:
    hits = [j for j in jobs if j["id"] == job_id]
  elif overrides is not None:
    hits = [j for j in jobs if j["overrides"] == dict(overrides)]
  else:
    raise ValueError("find: give index, job_id or overrides")
  if len(hits) != 1:
    raise KeyError(f"no single job with {'id ' + job_id if job_id else overrides} "
                   f"({len(hits)} found)")
  return hits[0]

