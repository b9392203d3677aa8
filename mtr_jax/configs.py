"""Config files as code: `path/to/config.py[:arg]` plus `--config.a.b=value` overrides.

The same syntax as ml_collections' config flags (used by experiments/main.py), for
the subcommands of the `mtr-jax` command line.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

import ml_collections
import yaml


def load_config(spec: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
  path, _, arg = spec.partition(":")
  if not Path(path).is_file():
    raise FileNotFoundError(f"config file not found: {path}")
  module_spec = importlib.util.spec_from_file_location(Path(path).stem, path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ValueError(f"{path}: a config file must define get_config(arg)")
  config = module.get_config(arg) if arg else module.get_config()
  for item in overrides:
    apply_override(config, item)
  return config


def apply_override(config: ml_collections.ConfigDict, item: str) -> None:
  """`a.b=value` (a leading `--config.` is allowed); value is parsed as YAML."""
  item = item.removeprefix("--").removeprefix("config.")
  key, sep, raw = item.partition("=")
  if not sep:
    raise ValueError(f"override {item!r}: expected key=value")
  set_field(config, key, _parse_value(raw), what="override")


def _parse_value(raw: str):
  """YAML, except that numbers YAML 1.1 reads as strings (3e-4, 1e5) are numbers."""
  value = yaml.safe_load(raw)
  if isinstance(value, str):
    try:
      return float(value)
    except ValueError:
      pass
  return value


def set_field(config: ml_collections.ConfigDict, key: str, value, *,
              what: str = "override") -> None:
  """config[a][b] = value for key 'a.b'; the field must exist (a list becomes a
  tuple where the field holds a tuple). `what` names the caller in errors."""
  *parents, leaf = key.split(".")
  node = config
  for p in parents:
    if p not in node:
      raise KeyError(f"{what} {key!r}: no field {p!r} in the config")
    node = node[p]
  if leaf not in node:
    raise KeyError(f"{what} {key!r}: no field {leaf!r} in the config "
                   f"(fields: {sorted(node.keys())})")
  if isinstance(node[leaf], tuple) and isinstance(value, list):
    value = tuple(value)
  node[leaf] = value
