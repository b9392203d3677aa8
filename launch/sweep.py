"""Sweeps as code: a config file's `sweep(add)` expanded into jobs.

A config file defines `get_config(arg)` and may define `sweep(add)` beside it
(big_vision style); `sweep(add, arg)` also receives the text after the colon of
`--config=path.py:arg`. Each call to `add` is one job:

  def sweep(add):
    for lam in (0.5, 1.0, 2.0):
      for seed in (0, 1):
        add(**{"data.lam": lam, "train.seed": seed})
    add({"collect.cost_limit": 0.5}, name="tight budget")

Keys are dotted config paths, set on a fresh `get_config(arg)` after the command
line's base overrides (`--config.a.b=value`), like `--config.a.b=value` but with
Python values (not YAML text). Values must be JSON-able (numbers, strings,
bools, None, lists). Two keywords are reserved: `name` (a readable name; default
`leaf=value,...`) and `share`.

Job ids are stable: the first 12 hex digits of sha256 over the canonical JSON of
the overrides, so reordering or extending a sweep keeps the ids (and output
folders) of the jobs that were already there. A config file without `sweep`
gives one job with no overrides ("base").

Sharing a trained estimator (`share="estimator"`). Jobs that differ only in
routing-time fields need not retrain. The routing-time fields are the config
module's `ROUTING_KEYS` (dotted keys or whole sections; default: the `route`
section). For a job added with share="estimator", `train_key` is the hash of
its resolved config with those keys removed; jobs with one train_key get one
`estimator_workdir` (WORKDIR/shared/<train_key>) that the runner passes to the
entry as a keyword argument, and the first of them to run trains there (under a
file lock) while the others wait for it (runner.py). The entry is responsible
for training into estimator_workdir (idempotently: resuming a finished run is a
no-op) and routing into its own workdir. An entry that does not accept
`estimator_workdir` is refused at launch time instead of silently retraining.
Lambda in `data.lam` weights cost in a one-head estimator's training targets, so
sweeping it is a training sweep; with `train.model.heads=2` the estimator predicts
outcome and cost apart and `route.lam` is read at routing time, so a lambda sweep
shares one estimator, like the budget (`route.cost_limit`) and the pool
(`route.pool`) sweeps (experiments/configs/default.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import inspect
import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import ml_collections

from mtr_jax.configs import apply_override, set_field

RESERVED = ("name", "share")
SHARE_MODES = ("estimator",)
DEFAULT_ROUTING_KEYS = ("route",)
DEFAULT_ENTRY = "mtr_jax.experiment:train_and_evaluate"


@dataclasses.dataclass(frozen=True)
class Job:
  """One job of a sweep: its overrides and resolved config (plain JSON)."""

  index: int
  id: str
  name: str
  overrides: dict[str, Any]
  config: dict[str, Any]
  share: str | None = None
  train_key: str | None = None

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


def split_spec(spec: str) -> tuple[Path, str]:
  """(absolute config path, arg) of `path/to/config.py[:arg]`."""
  path, _, arg = spec.partition(":")
  path = Path(path).expanduser().resolve()
  if not path.is_file():
    raise FileNotFoundError(f"config file not found: {path}")
  return path, arg


def load_module(path: str | Path):
  path = Path(path)
  spec = importlib.util.spec_from_file_location(f"_sweep_config_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ValueError(f"{path}: a config file must define get_config(arg)")
  return module


def canonical(value: Any) -> str:
  """Canonical JSON (sorted keys, no spaces); tuples become lists."""
  try:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
  except (TypeError, ValueError) as e:
    raise ValueError(f"sweep values must be plain JSON (numbers, strings, bools, None, "
                     f"lists): {e}") from None


def job_id(overrides: Mapping[str, Any]) -> str:
  return hashlib.sha256(canonical(dict(overrides)).encode()).hexdigest()[:12]


def _format(value: Any) -> str:
  if isinstance(value, float):
    return f"{value:g}"
  if isinstance(value, (list, tuple)):
    return "[" + ",".join(_format(v) for v in value) + "]"
  return str(value)


def job_name(overrides: Mapping[str, Any]) -> str:
  """`leaf=value,...`; the full dotted key where two keys share a leaf."""
  if not overrides:
    return "base"
  leaves = [k.rsplit(".", 1)[-1] for k in overrides]
  return ",".join(f"{leaf if leaves.count(leaf) == 1 else key}={_format(v)}"
                  for key, leaf, v in zip(overrides, leaves, overrides.values()))


def set_override(config: ml_collections.ConfigDict, key: str, value: Any) -> None:
  """config[a][b] = value for key 'a.b' (a Python value); the field must exist."""
  set_field(config, key, value, what="sweep override")


def resolve(spec: str, base_overrides: Sequence[str] = (),
            overrides: Mapping[str, Any] | None = None, *, module=None
            ) -> ml_collections.ConfigDict:
  """get_config(arg), then the command line's overrides, then a job's."""
  path, arg = split_spec(spec)
  module = module or load_module(path)
  config = module.get_config(arg) if arg else module.get_config()
  for item in base_overrides:
    apply_override(config, item)
  for key, value in (overrides or {}).items():
    set_override(config, key, value)
  return config


def config_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
  return json.loads(config.to_json_best_effort(sort_keys=True))


def _drop(tree: dict, key: str) -> None:
  *parents, leaf = key.split(".")
  for p in parents:
    tree = tree.get(p)
    if not isinstance(tree, dict):
      return
  tree.pop(leaf, None)


def train_key(resolved: Mapping[str, Any], routing_keys: Sequence[str]) -> str:
  """Hash of a resolved config without its routing-time fields."""
  tree = json.loads(json.dumps(resolved))
  for key in routing_keys:
    _drop(tree, key)
  return hashlib.sha256(canonical(tree).encode()).hexdigest()[:12]


def collect_calls(sweep_fn: Callable, arg: str) -> list[tuple[dict, str | None, str | None]]:
  """[(overrides, name, share)] of every add() call of `sweep_fn`."""
  calls: list[tuple[dict, str | None, str | None]] = []

  def add(overrides: Mapping[str, Any] | None = None, /, *, name: str | None = None,
          share: str | None = None, **dotted):
    merged = dict(overrides or {})
    clash = sorted(set(merged) & set(dotted))
    if clash:
      raise ValueError(f"add(): keys given twice: {clash}")
    merged.update(dotted)
    if share is not None and share not in SHARE_MODES:
      raise ValueError(f"add(share={share!r}): known modes are {list(SHARE_MODES)}")
    canonical(merged)  # JSON-able values
    calls.append((merged, name, share))

  params = inspect.signature(sweep_fn).parameters
  sweep_fn(add, arg) if len(params) >= 2 else sweep_fn(add)
  return calls


def expand(spec: str, base_overrides: Sequence[str] = ()) -> list[Job]:
  """The jobs of the config file's sweep (one "base" job without a sweep)."""
  path, arg = split_spec(spec)
  module = load_module(path)
  sweep_fn = getattr(module, "sweep", None)
  calls = collect_calls(sweep_fn, arg) if sweep_fn is not None else [({}, None, None)]
  if not calls:
    raise ValueError(f"{path}: sweep(add) added no jobs")
  routing_keys = tuple(getattr(module, "ROUTING_KEYS", DEFAULT_ROUTING_KEYS))
  jobs, seen = [], {}
  for index, (overrides, name, share) in enumerate(calls):
    jid = job_id(overrides)
    if jid in seen:
      raise ValueError(f"{path}: sweep adds the same overrides twice: {overrides} "
                       f"(jobs {seen[jid]} and {index})")
    seen[jid] = index
    try:
      resolved = config_json(resolve(spec, base_overrides, overrides, module=module))
    except (KeyError, TypeError, ValueError) as e:
      raise ValueError(f"{path}: job {index} ({job_name(overrides)}): {e}") from e
    jobs.append(Job(index=index, id=jid, name=name or job_name(overrides),
                    overrides=overrides, config=resolved, share=share,
                    train_key=train_key(resolved, routing_keys) if share else None))
  return jobs


def import_entry(text: str) -> Callable:
  """`package.module:function` -> the function."""
  module_name, sep, attr = text.partition(":")
  if not sep or not module_name or not attr:
    raise ValueError(f"entry {text!r}: expected module:function")
  import importlib
  fn = importlib.import_module(module_name)
  for part in attr.split("."):
    fn = getattr(fn, part)
  if not callable(fn):
    raise TypeError(f"entry {text!r} is not callable")
  return fn


def accepts_estimator_workdir(fn: Callable) -> bool:
  params = inspect.signature(fn).parameters.values()
  return any(p.name == "estimator_workdir" or p.kind is p.VAR_KEYWORD for p in params)


def check_entry(entry: str, jobs: Sequence[Job]) -> None:
  """Imports the entry (a typo fails now, not in every job) and refuses shared
  jobs for an entry that cannot train into a shared folder."""
  fn = import_entry(entry)
  shared = [j.name for j in jobs if j.share]
  if shared and not accepts_estimator_workdir(fn):
    raise ValueError(
        f"jobs {shared[:5]}{'...' if len(shared) > 5 else ''} ask for share='estimator', "
        f"but the entry {entry} has no `estimator_workdir` parameter: it would retrain "
        f"in every job. Drop share= or use an entry that trains into "
        f"estimator_workdir and routes into workdir.")
