"""Command-line pieces shared by the launchers: --config, --workdir, --entry and
`--config.a.b=value` base overrides (applied to every job before its own)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from launch import manifest as mf
from launch import sweep


def parser(prog: str, description: str, *,
           config_required: bool = True) -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog=prog, description=description, allow_abbrev=False,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--config", required=config_required,
                 help="config file with get_config(arg) and sweep(add): path.py[:arg]")
  p.add_argument("--workdir", required=True, help="the sweep's folder (manifest.json, jobs/)")
  p.add_argument("--entry", default=None,
                 help=f"module:function(config, workdir) run by every job "
                      f"(default {sweep.DEFAULT_ENTRY}, or the manifest's)")
  return p


def parse(p: argparse.ArgumentParser, argv: Sequence[str] | None):
  """(args, base overrides): unknown `--config.a.b=value` (or `--config.a.b value`)
  arguments become overrides `a.b=value`; anything else is an error."""
  args, rest = p.parse_known_args(argv)
  overrides, i = [], 0
  while i < len(rest):
    item = rest[i]
    if not item.startswith("--config."):
      p.error(f"unrecognized argument {item!r}")
    if "=" not in item:
      if i + 1 >= len(rest):
        p.error(f"{item}: missing value")
      item, i = f"{item}={rest[i + 1]}", i + 1
    overrides.append(item.removeprefix("--config."))
    i += 1
  return args, overrides


USER_ERRORS = (ValueError, ImportError, FileNotFoundError, KeyError, TypeError)


def preview(config: str, workdir: str | Path, base_overrides: Sequence[str] = (),
            entry: str | None = None) -> dict:
  """The manifest that `prepare` would write, without writing anything."""
  workdir = Path(workdir).resolve()
  path_, arg = sweep.split_spec(config)
  spec = f"{path_}:{arg}" if arg else str(path_)
  jobs = sweep.expand(spec, base_overrides)
  existing = mf.load(workdir) if (workdir / mf.MANIFEST).exists() else None
  entry = entry or (existing or {}).get("entry") or sweep.DEFAULT_ENTRY
  sweep.check_entry(entry, jobs)
  header = {"sweep": workdir.name, "config": spec, "base_overrides": list(base_overrides),
            "entry": entry}
  return mf.build(header, jobs, existing)


def table(manifest: dict) -> str:
  rows = [f"{'#':>3s}  {'id':12s}  {'status':7s}  {'share':9s}  name"]
  for j in manifest["jobs"]:
    share = j["train_key"][:9] if j.get("share") else "-"
    orphan = "  (orphan: no longer in the sweep)" if j.get("orphan") else ""
    rows.append(f"{j['index']:3d}  {j['id']:12s}  {j['status']:7s}  {share:9s}  "
                f"{j['name']}{orphan}")
  c = manifest["counts"]
  rows.append(f"{len(manifest['jobs'])} jobs: " + ", ".join(f"{c[s]} {s}" for s in mf.STATUSES))
  return "\n".join(rows)


def prepare(config: str, workdir: str | Path, base_overrides: Sequence[str] = (),
            entry: str | None = None) -> Path:
  """Expands the config's sweep and writes (or extends) WORKDIR/manifest.json,
  keeping the state of jobs already there; returns its path. Nothing runs."""
  workdir = Path(workdir).resolve()
  return mf.save(workdir / mf.MANIFEST, preview(config, workdir, base_overrides, entry))


def prepare_or_exit(p: argparse.ArgumentParser, args, overrides: Sequence[str]) -> Path:
  """`prepare` for a launcher's parsed arguments; a bad config, entry or override
  ends the program through `p.error` with the exception's type and message."""
  try:
    return prepare(args.config, args.workdir, overrides, args.entry)
  except USER_ERRORS as e:
    p.error(f"{type(e).__name__}: {e}")
