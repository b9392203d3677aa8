"""Runs one entry of a sweep's manifest (a SLURM array task, a W&B agent run).

  python -m launch.run_one --manifest runs/sweep1/manifest.json --index 3
  python -m launch.run_one --manifest runs/sweep1/manifest.json --id 3f2a9c1d0b7e
  python -m launch.run_one --manifest runs/sweep1/manifest.json --from-wandb --data.lam=0.5
  python -m launch.run_one --manifest runs/sweep1/manifest.json --from-wandb --job=3f2a9c1d0b7e

--from-wandb takes the arguments a W&B agent appends (`${args}`: `--key=value`
for each sweep parameter, values parsed as YAML): either `--job=<id>` or the
job's dotted overrides, which must match one manifest entry exactly.

A done job is skipped (exit 0) unless --force. The job runs in this process
(runner.py): its status file jobs/<id>/status.json is written by this process
only, so array tasks never write one file at once; then the manifest is
updated under an exclusive lock on WORKDIR/.manifest.lock (manifest.py).
Exit status: 0 when the job is done, 1 when it failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import yaml

from launch import manifest as mf
from launch import runner


def wandb_overrides(rest: Sequence[str]) -> tuple[str | None, dict]:
  """(job id or None, overrides) from a W&B agent's `--key=value` arguments."""
  job_id, overrides, i = None, {}, 0
  rest = list(rest)
  while i < len(rest):
    item = rest[i]
    if not item.startswith("--"):
      raise ValueError(f"unexpected argument {item!r} (expected --key=value)")
    key, sep, value = item[2:].partition("=")
    if not sep:
      if i + 1 >= len(rest):
        raise ValueError(f"{item}: missing value")
      value, i = rest[i + 1], i + 1
    i += 1
    if key == "job":
      job_id = value
    else:
      overrides[key.removeprefix("config.")] = yaml.safe_load(value)
  return job_id, overrides


def select(manifest: dict, args, rest: Sequence[str]) -> dict:
  if args.from_wandb:
    job_id, overrides = wandb_overrides(rest)
    if job_id is not None:
      return mf.find(manifest, job_id=job_id)
    return mf.find(manifest, overrides=overrides)
  if rest:
    raise ValueError(f"unrecognized arguments {list(rest)}")
  if args.index is not None:
    return mf.find(manifest, index=args.index)
  if args.id is not None:
    return mf.find(manifest, job_id=args.id)
  raise ValueError("give --index, --id or --from-wandb")


def main(argv: Sequence[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m launch.run_one", allow_abbrev=False,
                              description=__doc__.split("\n\n")[0])
  p.add_argument("--manifest", required=True, help="WORKDIR/manifest.json (or WORKDIR)")
  p.add_argument("--index", type=int, help="the job's index in the manifest")
  p.add_argument("--id", help="the job's id")
  p.add_argument("--from-wandb", action="store_true",
                 help="pick the job from a W&B agent's --key=value arguments")
  p.add_argument("--force", action="store_true", help="run even if the job is done")
  p.add_argument("--no-capture", action="store_true",
                 help="print the job's output here instead of jobs/<id>/log.txt")
  args, rest = p.parse_known_args(argv)
  path = mf.manifest_path(Path(args.manifest).resolve())
  manifest = mf.load(path)
  try:
    job = select(manifest, args, rest)
  except (KeyError, IndexError, ValueError) as e:
    p.error(str(e))
  if job.get("orphan"):
    print(f"job {job['id']} ({job['name']}) is no longer in the sweep; not run")
    return 1
  if job["status"] == "done" and not args.force:
    print(f"job {job['id']} ({job['name']}) is already done; skipped")
    return 0
  print(f"running job {job['index']}: {job['id']} ({job['name']}); log: "
        f"{path.parent / job['outputs']['log']}", flush=True)
  state = runner.run_job(path.parent, job, runner.header_of(manifest),
                         capture=not args.no_capture)
  manifest = mf.update(path, {job["id"]: state})
  print(runner.describe(mf.find(manifest, job_id=job["id"])), flush=True)
  return 0 if state["status"] == "done" else 1


if __name__ == "__main__":
  sys.exit(main())
