"""Writes a W&B sweep YAML for a sweep, and prints the commands that start it.

  python -m launch.wandb_sweep --config=experiments/configs/default.py --workdir=runs/sweep1 \
      --project=mtr-jax
  wandb sweep --project mtr-jax runs/sweep1/wandb_sweep.yaml      # prints SWEEP_ID
  cd <repo> && wandb agent --count 5 <entity>/mtr-jax/<SWEEP_ID>

Nothing here contacts a server. The YAML is a `method: grid` sweep whose runs
each execute one manifest entry: the agent runs
`python -m launch.run_one --manifest WORKDIR/manifest.json --from-wandb ${args}`
from the repository root. When the sweep's jobs form a full grid (every job
sets the same keys and every combination of their values is a job), the
parameters are the dotted override keys with their values, so W&B shows
`data.lam`, `train.seed`, ...; otherwise there is one parameter `job` whose
values are the manifest's job ids (W&B's grid would otherwise make jobs the
sweep never asked for). Either way a run maps to exactly one manifest entry,
whose status and outputs the run updates like a SLURM task.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Sequence

import yaml

from launch import cli
from launch import manifest as mf

REPO_ROOT = Path(__file__).resolve().parents[1]
YAML_FILE = "wandb_sweep.yaml"


def grid_parameters(jobs: Sequence[dict]) -> dict | None:
  """{key: values} when the jobs' overrides are exactly the grid of their values."""
  if not jobs:
    return None
  keys = list(jobs[0]["overrides"])
  if not keys or any(set(j["overrides"]) != set(keys) for j in jobs):
    return None
  values = {k: [] for k in keys}
  for j in jobs:
    for k in keys:
      v = j["overrides"][k]
      if all(json.dumps(v) != json.dumps(u) for u in values[k]):
        values[k].append(v)
  combos = {json.dumps(dict(zip(keys, c)), sort_keys=True)
            for c in itertools.product(*values.values())}
  have = {json.dumps({k: j["overrides"][k] for k in keys}, sort_keys=True) for j in jobs}
  return values if combos == have else None


def sweep_config(manifest: dict, manifest_file: str | Path, *, project: str | None = None,
                 python: str = "python") -> dict:
  """The W&B sweep config (a dict) for the manifest's jobs (orphans excluded)."""
  manifest_file = Path(manifest_file).resolve()
  jobs = [j for j in manifest["jobs"] if not j.get("orphan")]
  grid = grid_parameters(jobs)
  if grid is not None:
    parameters = {k: {"values": v} for k, v in grid.items()}
  else:
    parameters = {"job": {"values": [j["id"] for j in jobs]}}
  config = {"name": str(manifest.get("sweep") or "sweep"), "method": "grid",
            "program": "launch/run_one.py",
            "command": ["${env}", python, "-m", "launch.run_one",
                        "--manifest", str(manifest_file), "--from-wandb", "${args}"],
            "parameters": parameters}
  if project:
    config["project"] = project
  return config


def write_sweep_yaml(manifest_file: str | Path, out: str | Path | None = None, *,
                     project: str | None = None, python: str = "python") -> Path:
  """Writes WORKDIR/wandb_sweep.yaml (or `out`); returns its path."""
  manifest_file = mf.manifest_path(Path(manifest_file).resolve())
  manifest = mf.load(manifest_file)
  config = sweep_config(manifest, manifest_file, project=project, python=python)
  header = (f"# W&B sweep for {manifest.get('config')} ({len(manifest['jobs'])} jobs), "
            f"written by launch.wandb_sweep.\n# Each run executes one entry of "
            f"{manifest_file} (launch.run_one --from-wandb).\n")
  out = Path(out) if out else manifest_file.parent / YAML_FILE
  out.write_text(header + yaml.safe_dump(config, sort_keys=False))
  return out


def commands(yaml_file: str | Path, *, project: str, entity: str | None, count: int) -> str:
  who = f"{entity}/{project}" if entity else f"<entity>/{project}"
  return (f"wandb sweep --project {project} {yaml_file}    # prints the SWEEP_ID\n"
          f"cd {REPO_ROOT} && wandb agent --count {count} {who}/<SWEEP_ID>")


def main(argv: Sequence[str] | None = None) -> int:
  p = cli.parser("python -m launch.wandb_sweep", __doc__.split("\n\n")[0])
  p.add_argument("--project", default="mtr-jax")
  p.add_argument("--entity", help="your W&B entity (only printed)")
  p.add_argument("--python", default="python")
  args, overrides = cli.parse(p, argv)
  path = cli.prepare_or_exit(p, args, overrides)
  out = write_sweep_yaml(path, project=args.project, python=args.python)
  m = mf.load(path)
  print(cli.table(m))
  todo = sum(j["status"] != "done" and not j.get("orphan") for j in m["jobs"])
  print(f"\nmanifest: {path}\nsweep:    {out}\n"
        + commands(out, project=args.project, entity=args.entity, count=max(todo, 1)))
  return 0


if __name__ == "__main__":
  sys.exit(main())
