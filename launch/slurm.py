"""Writes a SLURM array script for a sweep: one array task per manifest entry.

  python -m launch.slurm --config=experiments/configs/default.py --workdir=runs/sweep1 \
      --partition=cpu --time=04:00:00 --cpus-per-task=4 --mem=16G --max-parallel=16 \
      --setup="source .venv/bin/activate"
  sbatch runs/sweep1/slurm/array.sbatch

Writes (or extends) WORKDIR/manifest.json and WORKDIR/slurm/array.sbatch, and
prints the sbatch command; it submits nothing. Task i runs
`python -m launch.run_one --manifest WORKDIR/manifest.json --index i` from the
repository root; the array lists only the jobs that are not done (all of them,
`0-(N-1)`, on a fresh sweep), and run_one skips a job that is done by the time
its task starts. Output of task i: WORKDIR/slurm/<array id>_<i>.out (run_one's
summary) and WORKDIR/jobs/<id>/log.txt (the job's own output). Concurrent tasks
never write one file at once: each writes its own status file, and the manifest
is updated under a file lock (manifest.py). Extra #SBATCH lines: --sbatch=...
(repeatable), e.g. --sbatch=--account=myproj --sbatch=--gres=gpu:1.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Sequence

from launch import cli
from launch import manifest as mf

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = "slurm/array.sbatch"


def ranges(indices: Sequence[int]) -> str:
  """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8'."""
  out, xs = [], sorted(indices)
  i = 0
  while i < len(xs):
    j = i
    while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
      j += 1
    out.append(str(xs[i]) if i == j else f"{xs[i]}-{xs[j]}")
    i = j + 1
  return ",".join(out)


def slurm_script(manifest: dict, manifest_file: str | Path, *, job_name: str | None = None,
                 partition: str | None = None, time: str | None = None,
                 cpus_per_task: int | None = None, mem: str | None = None,
                 max_parallel: int | None = None, setup: str | None = None,
                 sbatch: Sequence[str] = (), python: str = "python",
                 repo_root: str | Path = REPO_ROOT) -> str:
  """The text of the array script for the manifest's jobs that are not done."""
  manifest_file = Path(manifest_file).resolve()
  workdir = manifest_file.parent
  todo = [j["index"] for j in manifest["jobs"]
          if j["status"] != "done" and not j.get("orphan")]
  if not todo:
    raise ValueError(f"{manifest_file}: every job is done; nothing to submit")
  array = ranges(todo) + (f"%{max_parallel}" if max_parallel else "")
  lines = ["#!/bin/bash",
           f"#SBATCH --job-name={job_name or 'mtr-' + str(manifest.get('sweep') or 'sweep')}",
           f"#SBATCH --array={array}",
           f"#SBATCH --output={workdir / 'slurm' / '%A_%a.out'}"]
  for flag, value in (("partition", partition), ("time", time),
                      ("cpus-per-task", cpus_per_task), ("mem", mem)):
    if value not in (None, ""):
      lines.append(f"#SBATCH --{flag}={value}")
  lines += [f"#SBATCH {extra}" for extra in sbatch]
  lines += [
      f"# Sweep {manifest.get('sweep')}: {len(todo)} of {len(manifest['jobs'])} jobs; "
      f"config {manifest.get('config')}",
      f"# Manifest: {manifest_file} (task i runs its job of index i)",
      "set -euo pipefail",
      f"cd {shlex.quote(str(Path(repo_root).resolve()))}"]
  if setup:
    lines.append(setup)
  lines += ['export WANDB_MODE="${WANDB_MODE:-offline}"',
            f"exec {python} -m launch.run_one --manifest {shlex.quote(str(manifest_file))} "
            "--index \"$SLURM_ARRAY_TASK_ID\""]
  return "\n".join(lines) + "\n"


def write_slurm_script(manifest_file: str | Path, out: str | Path | None = None,
                       **options) -> Path:
  """Writes the array script (default WORKDIR/slurm/array.sbatch); returns its path."""
  manifest_file = mf.manifest_path(Path(manifest_file).resolve())
  text = slurm_script(mf.load(manifest_file), manifest_file, **options)
  out = Path(out) if out else manifest_file.parent / SCRIPT
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(text)
  out.chmod(0o755)
  return out


def main(argv: Sequence[str] | None = None) -> int:
  p = cli.parser("python -m launch.slurm", __doc__.split("\n\n")[0])
  p.add_argument("--job-name")
  p.add_argument("--partition")
  p.add_argument("--time", help="e.g. 04:00:00")
  p.add_argument("--cpus-per-task", type=int)
  p.add_argument("--mem", help="e.g. 16G")
  p.add_argument("--max-parallel", type=int, help="at most this many tasks at once (%%N)")
  p.add_argument("--setup", help="a shell line run before the job (module load, venv)")
  p.add_argument("--sbatch", action="append", default=[],
                 help="an extra #SBATCH option, e.g. --sbatch=--account=proj")
  p.add_argument("--python", default="python")
  args, overrides = cli.parse(p, argv)
  path = cli.prepare_or_exit(p, args, overrides)
  script = write_slurm_script(path, job_name=args.job_name, partition=args.partition,
                              time=args.time, cpus_per_task=args.cpus_per_task,
                              mem=args.mem, max_parallel=args.max_parallel,
                              setup=args.setup, sbatch=args.sbatch, python=args.python)
  print(cli.table(mf.load(path)))
  print(f"\nmanifest: {path}\nscript:   {script}\nsubmit:   sbatch {script}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
