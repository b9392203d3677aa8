"""Training data of the estimator: N samples over a pool of K candidates, as the
trainer and the vmapped sweep consume them (`TrainData`), and the episode-grouped
validation split."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Mapping, Sequence

import numpy as np

from mtr_jax.estimator.features import (FeatureStats, NUM_FEATURES, ModelLike,
                                        model_features, model_ids)
from mtr_jax.pool.pool import ModelSpec
from mtr_jax.training.samples import split_by_group

def split_by_episode(episode_N: np.ndarray, val_fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
  """(train_idx, val_idx) grouped by integer episode id (`samples.split_by_group`)."""
  return split_by_group(episode_N, val_fraction, seed)


def _as_json(value):
  return json.loads(json.dumps(value))


def _model_meta(model: ModelLike) -> dict[str, Any]:
  return model.metadata() if isinstance(model, ModelSpec) else dict(model)


@dataclasses.dataclass(frozen=True)
class TrainData:
  """N training samples over a pool of K candidates, and what the checkpoint records.

  z_hist_NxD: history embeddings; action_N: index into the K candidates; target_N:
  y_t; weight_N: 1/propensity (used with loss.ipw); episode_N: episode ids (the
  validation split groups by them). feats_Kx8 / model_ids_K: the candidates'
  encoder inputs (`TrainData.build` computes them). pool: the candidates'
  ModelSpec.metadata() dicts (with prices); known_model_names: rows of the
  residual table. val_mask_N: an explicit validation split (True = validation),
  e.g. from samples.split_by_episode; None splits by episode with config.seed.
  extra_metadata: more JSON saved at the top level of the checkpoint metadata
  (e.g. typical_completion_tokens, cost_scale); it may not replace trainer keys.
  """

  z_hist_NxD: np.ndarray
  action_N: np.ndarray
  target_N: np.ndarray
  weight_N: np.ndarray
  episode_N: np.ndarray
  feats_Kx8: np.ndarray
  model_ids_K: np.ndarray
  pool: Sequence[Mapping[str, Any]]
  feature_stats: FeatureStats
  encoder_fingerprint: Mapping[str, Any]
  lam: float
  known_model_names: Sequence[str]
  val_mask_N: np.ndarray | None = None
  extra_metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    setf = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
    z = np.asarray(self.z_hist_NxD, np.float32)
    if z.ndim != 2:
      raise ValueError(f"TrainData.z_hist_NxD: expected [N, D], got shape {z.shape}")
    setf("z_hist_NxD", z)
    n = z.shape[0]
    target = np.asarray(self.target_N, np.float32)
    if target.shape[:1] != (n,) or target.ndim > 2 or (target.ndim == 2
                                                       and target.shape[1] != 2):
      raise ValueError(f"TrainData.target_N: expected shape ({n},) or ({n}, 2) "
                       f"(outcome, remaining cost), got {target.shape}")
    setf("target_N", target)
    for name, dtype in (("action_N", np.int32), ("weight_N", np.float32),
                        ("episode_N", np.int32)):
      arr = np.asarray(getattr(self, name), dtype)
      if arr.shape != (n,):
        raise ValueError(f"TrainData.{name}: expected shape ({n},), got {arr.shape}")
      setf(name, arr)
    pool = tuple(_model_meta(m) for m in self.pool)
    setf("pool", pool)
    k = len(pool)
    feats = np.asarray(self.feats_Kx8, np.float32)
    ids = np.asarray(self.model_ids_K, np.int32)
    if feats.shape != (k, NUM_FEATURES) or ids.shape != (k,):
      raise ValueError(f"TrainData: {k} pool models but feats_Kx8 {feats.shape} and "
                       f"model_ids_K {ids.shape}")
    setf("feats_Kx8", feats)
    setf("model_ids_K", ids)
    setf("known_model_names", tuple(self.known_model_names))
    setf("encoder_fingerprint", dict(self.encoder_fingerprint))
    setf("lam", float(self.lam))
    setf("extra_metadata", _as_json(dict(self.extra_metadata)))
    if n and (self.action_N.min() < 0 or self.action_N.max() >= k):
      raise ValueError(f"TrainData.action_N: index outside the {k} pool models")
    if not np.all(np.isfinite(self.target_N)):
      raise ValueError("TrainData.target_N: non-finite targets")
    if not np.all(np.isfinite(self.weight_N) & (self.weight_N > 0)):
      raise ValueError("TrainData.weight_N: weights must be finite and > 0")
    if self.val_mask_N is not None:
      mask = np.asarray(self.val_mask_N, bool)
      if mask.shape != (n,):
        raise ValueError(f"TrainData.val_mask_N: expected shape ({n},), "
                         f"got {mask.shape}")
      setf("val_mask_N", mask)

  @classmethod
  def build(cls, z_hist_NxD, action_N, target_N, episode_N, *,
            pool: Sequence[ModelLike], encoder_fingerprint: Mapping[str, Any],
            lam: float, weight_N=None,
            known_model_names: Sequence[str] | None = None,
            feature_stats: FeatureStats | None = None, val_mask_N=None,
            extra_metadata: Mapping[str, Any] | None = None) -> "TrainData":
    """Fills in weights (1), known names (the pool's), feature statistics (fitted on
    the pool), feats_Kx8 and model_ids_K."""
    pool = [_model_meta(m) for m in pool]
    names = [m["name"] for m in pool]
    known = tuple(names if known_model_names is None else known_model_names)
    stats = feature_stats or FeatureStats.fit(pool)
    n = np.shape(action_N)[0]
    return cls(z_hist_NxD=z_hist_NxD, action_N=action_N, target_N=target_N,
               weight_N=np.ones(n, np.float32) if weight_N is None else weight_N,
               episode_N=episode_N, feats_Kx8=model_features(pool, stats),
               model_ids_K=model_ids(names, known), pool=pool, feature_stats=stats,
               encoder_fingerprint=encoder_fingerprint, lam=lam,
               known_model_names=known, val_mask_N=val_mask_N,
               extra_metadata=extra_metadata or {})

  def split(self, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if self.val_mask_N is not None:
      return (np.flatnonzero(~self.val_mask_N).astype(np.int64),
              np.flatnonzero(self.val_mask_N).astype(np.int64))
    return split_by_episode(self.episode_N, val_fraction, seed)

  def digest(self) -> str:
    """sha256 of every array: a resumed run must see the same data."""
    h = hashlib.sha256()
    for arr in (self.z_hist_NxD, self.action_N, self.target_N, self.weight_N,
                self.episode_N, self.feats_Kx8, self.model_ids_K,
                np.zeros(0, bool) if self.val_mask_N is None else self.val_mask_N):
      h.update(str((arr.dtype.str, arr.shape)).encode())
      h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()
