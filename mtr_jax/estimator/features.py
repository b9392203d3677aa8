"""Model metadata features: the 8 numbers the model encoder sees for each model.

Features, in order (FEATURE_NAMES):
  max_input_tokens, max_output_tokens, input $/M, output $/M,
  knowledge-cutoff days relative to 2026-01-01 (negative before it),
  input+output tokens, output$/(input$+1e-6), input$+output$.
log1p is applied to every feature but the cutoff; the result is z-scored with the
training pool's mean and population std (+1e-6). The statistics (`FeatureStats`) are
saved with the weights so that a checkpoint can score models from JSON metadata
alone (ModelSpec.metadata() dicts are accepted wherever a ModelSpec is).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any, Mapping, Sequence, Union

import numpy as np

from mtr_jax.pool.pool import ModelSpec

FEATURE_NAMES = (
    "max_input_tokens", "max_output_tokens", "input_price", "output_price",
    "cutoff_days", "total_tokens", "price_ratio", "total_price")
NUM_FEATURES = len(FEATURE_NAMES)
CUTOFF_INDEX = FEATURE_NAMES.index("cutoff_days")
REFERENCE_DATE = dt.date(2026, 1, 1)
DEFAULTS = {
    "max_input_tokens": 128000,
    "max_output_tokens": 4096,
    "input_price": 1.0,
    "output_price": 5.0,
    "knowledge_cutoff": dt.date(2024, 1, 1),
}
RATIO_EPS = 1e-6
STD_EPS = 1e-6

ModelLike = Union[ModelSpec, Mapping[str, Any]]


def _metadata(model: ModelLike) -> Mapping[str, Any]:
  if isinstance(model, ModelSpec):
    return model.metadata()
  if isinstance(model, Mapping):
    return model
  raise TypeError(f"expected a ModelSpec or a metadata dict, got {type(model).__name__}")


def _field(meta: Mapping[str, Any], key: str):
  value = meta.get(key)
  return DEFAULTS[key] if value is None else value


def _cutoff(value) -> dt.date:
  if isinstance(value, dt.datetime):
    return value.date()
  if isinstance(value, dt.date):
    return value
  return dt.date.fromisoformat(str(value))


def raw_features(models: Sequence[ModelLike]) -> np.ndarray:
  """[K, 8] float64 features after log1p (cutoff days untouched), before z-scoring."""
  rows = []
  for model in models:
    meta = _metadata(model)
    max_in = float(_field(meta, "max_input_tokens"))
    max_out = float(_field(meta, "max_output_tokens"))
    price_in = float(_field(meta, "input_price"))
    price_out = float(_field(meta, "output_price"))
    days = float((_cutoff(_field(meta, "knowledge_cutoff")) - REFERENCE_DATE).days)
    rows.append([max_in, max_out, price_in, price_out, days, max_in + max_out,
                 price_out / (price_in + RATIO_EPS), price_in + price_out])
  x_Kx8 = np.asarray(rows, np.float64).reshape(len(rows), NUM_FEATURES)
  log_cols = np.arange(NUM_FEATURES) != CUTOFF_INDEX
  x_Kx8[:, log_cols] = np.log1p(x_Kx8[:, log_cols])
  return x_Kx8


@dataclasses.dataclass(frozen=True)
class FeatureStats:
  """Per-feature mean and population std of `raw_features` over a training pool."""

  mean: np.ndarray  # [8]
  std: np.ndarray  # [8], population std (ddof=0), without the +1e-6

  def __post_init__(self):
    for name in ("mean", "std"):
      value = np.asarray(getattr(self, name), np.float64)
      if value.shape != (NUM_FEATURES,):
        raise ValueError(f"FeatureStats.{name}: expected shape ({NUM_FEATURES},), "
                         f"got {value.shape}")
      object.__setattr__(self, name, value)

  @classmethod
  def fit(cls, models: Sequence[ModelLike]) -> "FeatureStats":
    if not len(models):
      raise ValueError("FeatureStats.fit needs at least one model")
    x_Kx8 = raw_features(models)
    return cls(mean=x_Kx8.mean(axis=0), std=x_Kx8.std(axis=0))

  def normalize(self, x_Kx8: np.ndarray) -> np.ndarray:
    return (x_Kx8 - self.mean) / (self.std + STD_EPS)

  def to_dict(self) -> dict[str, Any]:
    return {"features": list(FEATURE_NAMES), "mean": self.mean.tolist(),
            "std": self.std.tolist()}

  @classmethod
  def from_dict(cls, d: Mapping[str, Any]) -> "FeatureStats":
    names = tuple(d.get("features", FEATURE_NAMES))
    if names != FEATURE_NAMES:
      raise ValueError(f"FeatureStats: saved features {names} differ from {FEATURE_NAMES}")
    return cls(mean=np.asarray(d["mean"]), std=np.asarray(d["std"]))

  def to_json(self) -> str:
    return json.dumps(self.to_dict())

  @classmethod
  def from_json(cls, s: Union[str, Mapping[str, Any]]) -> "FeatureStats":
    return cls.from_dict(json.loads(s) if isinstance(s, str) else s)


def model_features(models: Sequence[ModelLike], stats: FeatureStats) -> np.ndarray:
  """[K, 8] float32 encoder inputs: log1p + z-score with the given statistics."""
  return stats.normalize(raw_features(models)).astype(np.float32)


def model_ids(names: Sequence[str], known_names: Sequence[str]) -> np.ndarray:
  """[K] int32 rows of the residual table; -1 for a model the estimator never saw."""
  index = {name: i for i, name in enumerate(known_names)}
  return np.asarray([index.get(n, -1) for n in names], np.int32).reshape(len(names))


def pad_candidates(feats_Kx8: np.ndarray, ids_K: np.ndarray, size: int):
  """Pads a pool to `size` candidates: (feats [size, 8], ids [size], mask [size])."""
  k = feats_Kx8.shape[0]
  if k > size:
    raise ValueError(f"pool of {k} models does not fit in {size} slots")
  feats = np.zeros((size, NUM_FEATURES), np.float32)
  feats[:k] = feats_Kx8
  ids = np.full((size,), -1, np.int32)
  ids[:k] = ids_K
  mask = np.arange(size) < k
  return feats, ids, mask
