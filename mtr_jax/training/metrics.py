"""One writer for training metrics: a JSONL file and Weights & Biases.

`MetricWriter(workdir, ...)` appends one JSON line per `write(step, metrics)` to
`workdir/metrics.jsonl` ({"step": ..., **metrics}) and logs the same numbers to
W&B. W&B runs in `WANDB_MODE` (default "offline": no network needed; "disabled"
in tests) with its files under `workdir/wandb`. Only process 0 writes anything.

Beyond scalars: `table(name, rows)` (a list of dicts: a W&B Table), `curves(name,
{series: [(x, y), ...]})` (a W&B line-series plot) and `image(name, png)`. Tables
and curves are also written to `workdir/tables/NAME.json`, so they exist without W&B.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import jax
import numpy as np

METRICS_FILE = "metrics.jsonl"


def _plain(value: Any) -> Any:
  """A JSON-safe scalar: Python/numpy/JAX numbers -> int/float; NaN/inf -> None."""
  if isinstance(value, (bool, np.bool_)):
    return bool(value)
  if isinstance(value, (int, np.integer)):
    return int(value)
  if isinstance(value, (str, type(None))):
    return value
  value = np.asarray(value)
  if value.shape != ():
    raise ValueError(f"metrics must be scalars, got shape {value.shape}")
  if np.issubdtype(value.dtype, np.integer):
    return int(value)
  value = float(value)
  return value if math.isfinite(value) else None


def _cell(value: Any) -> Any:
  """A W&B table cell: a scalar as _plain makes it, anything else as JSON text."""
  try:
    return _plain(value)
  except (ValueError, TypeError):
    return json.dumps(value, default=_plain)


def read_metrics(workdir: str | Path) -> list[dict[str, Any]]:
  """The records of `workdir/metrics.jsonl`, in order ([] if there is none)."""
  path = Path(workdir) / METRICS_FILE
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class MetricWriter:
  """Writes scalar metrics to `workdir/metrics.jsonl` and to W&B (process 0 only).

  keep_until: when resuming, records with step > keep_until are dropped from an
    existing metrics.jsonl first (they belong to work lost with the run that was
    killed); None keeps the file as it is.
  config, group, name: passed to wandb.init.
  use_wandb: False skips W&B entirely (JSONL only).
  """

  def __init__(self, workdir: str | Path, *, config: Mapping[str, Any] | None = None,
               group: str | None = None, name: str | None = None,
               keep_until: int | None = None, use_wandb: bool = True):
    self.workdir = Path(workdir)
    self.path = self.workdir / METRICS_FILE
    self.active = jax.process_index() == 0
    self._file = None
    self._run = None
    if not self.active:
      return
    self.workdir.mkdir(parents=True, exist_ok=True)
    if keep_until is not None and self.path.exists():
      kept = [r for r in read_metrics(self.workdir) if r.get("step", 0) <= keep_until]
      self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    self._file = open(self.path, "a")
    if use_wandb:
      import wandb  # slow import; only when used
      self._run = wandb.init(mode=os.environ.get("WANDB_MODE", "offline"),
                             dir=str(self.workdir), config=dict(config or {}),
                             group=group, name=name, reinit="finish_previous")

  def write(self, step: int, metrics: Mapping[str, Any]) -> None:
    """One record: {"step": step, **metrics} (scalars only)."""
    if not self.active:
      return
    if self._file is None:
      raise RuntimeError("MetricWriter.write after close()")
    record = {"step": int(step), **{k: _plain(v) for k, v in metrics.items()}}
    self._file.write(json.dumps(record) + "\n")
    self._file.flush()
    if self._run is not None:
      self._run.log({k: v for k, v in record.items() if k != "step" and v is not None},
                    step=int(step))

  def _local(self, name: str, payload: Mapping[str, Any]) -> Path:
    path = self.workdir / "tables" / (name.replace("/", "__") + ".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_plain) + "\n")
    os.replace(tmp, path)
    return path

  def table(self, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """rows (dicts; the columns are the union of their keys, in first-seen order)
    as a W&B Table and as workdir/tables/NAME.json."""
    if not self.active:
      return
    columns = list(dict.fromkeys(k for r in rows for k in r))
    self._local(name, {"columns": columns, "rows": [dict(r) for r in rows]})
    if self._run is not None:
      import wandb
      self._run.log({name: wandb.Table(columns=columns,
                                       data=[[_cell(r.get(c)) for c in columns] for r in rows])})

  def curves(self, name: str, series: Mapping[str, Sequence[tuple[float, float]]], *,
             x: str = "x", y: str = "y") -> None:
    """One line per series (e.g. each router's cost-score points, sorted by x), as a
    W&B line-series plot and as workdir/tables/NAME.json."""
    if not self.active:
      return
    series = {k: sorted((float(a), float(b)) for a, b in v) for k, v in series.items() if v}
    self._local(name, {"x": x, "y": y, "series": series})
    if self._run is not None and series:
      import wandb
      keys = list(series)
      self._run.log({name: wandb.plot.line_series(
          xs=[[p[0] for p in series[k]] for k in keys],
          ys=[[p[1] for p in series[k]] for k in keys], keys=keys, title=name, xname=x)})

  def image(self, name: str, path: str | Path) -> None:
    """A PNG file as a W&B image (the file itself stays where it is)."""
    if not Path(path).is_file():
      raise FileNotFoundError(f"MetricWriter.image({name!r}): no file {path}")
    if self.active and self._run is not None:
      import wandb
      self._run.log({name: wandb.Image(str(path))})

  def summary(self, values: Mapping[str, Any]) -> None:
    """Run-level values (best val loss, ...): the W&B summary only."""
    if self._run is not None:
      self._run.summary.update({k: _plain(v) for k, v in values.items()})

  def close(self) -> None:
    if self._file is not None:
      self._file.close()
      self._file = None
    if self._run is not None:
      self._run.finish()
      self._run = None

  def __enter__(self) -> "MetricWriter":
    return self

  def __exit__(self, *exc) -> None:
    self.close()
