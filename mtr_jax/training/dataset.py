"""From trajectory folders to the trainer's arrays: samples, targets, embeddings.

  data, samples = load_train_data(["runs/x/train_roulette"], pool, encoder,
                                  cache_dir="runs/x/embeddings", lam=1.0)
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from mtr_jax.embeddings import EmbeddingCache, history_text
from mtr_jax.pool import Pool
from mtr_jax.trajectories import iter_trajectories
from mtr_jax.training.samples import Samples, build_samples, split_by_episode
from mtr_jax.training.data import TrainData


def load_trajectories(folders: Sequence[str | Path], pool: Pool, *, progress: bool = True):
  trajs = []
  for folder in folders:
    trajs.extend(iter_trajectories(folder, pool=pool, progress=progress))
  if not trajs:
    raise FileNotFoundError(f"no *.traj.json under {[str(f) for f in folders]}")
  return trajs


def embed_histories(histories, encoder, cache_dir: str | Path | None, *,
                    progress: bool = True) -> np.ndarray:
  """Embeds each history (a message list), through the on-disk cache if given."""
  texts = [history_text(h, encoder) for h in histories]
  if cache_dir is None:
    return encoder.encode(texts, progress=progress)
  return EmbeddingCache(cache_dir, encoder).get_or_encode(texts, progress=progress)


def typical_completion_tokens(trajectories) -> dict[str, float]:
  """Median completion tokens per model: the router's expected-cost estimate."""
  per_model: dict[str, list[int]] = {}
  for t in trajectories:
    for s in t.steps:
      if s.completion_tokens is not None and s.error is None:
        per_model.setdefault(s.model, []).append(s.completion_tokens)
  return {m: float(np.median(v)) for m, v in per_model.items()}


def two_head_targets(samples: Samples) -> np.ndarray:
  """target_Nx2 = [S_norm - sum_{i>=t} rho_i, sum_{i>=t} c_i / cost_scale]: the two
  parts of y_t, so that y_t = target[:, 0] - lam * target[:, 1] for any lam."""
  return np.stack([samples.score - samples.error_cost, samples.remaining_cost], axis=1)


def load_train_data(folders: Sequence[str | Path], pool: Pool, encoder, *,
                    cache_dir: str | Path | None, lam: float = 1.0, aec: bool = True,
                    max_weight: float | None = None,
                    val_fraction: float = 0.1, seed: int = 0, heads: int = 1,
                    progress: bool = True) -> tuple[TrainData, Samples]:
  """Samples of every trajectory under `folders`, embedded, with the validation
  split grouped by episode. Weights are 1/propensity (clipped at `max_weight`);
  the trainer uses them when its config sets loss.ipw. heads=2: the targets are
  [outcome, remaining cost] (`two_head_targets`), for a two-head estimator."""
  trajs = load_trajectories(folders, pool, progress=progress)
  samples = build_samples(trajs, pool, lam=lam, aec=aec, ipw=True, max_weight=max_weight)
  if len(samples) == 0:
    raise ValueError(f"no training samples in {[str(f) for f in folders]} "
                     f"({samples.report()})")
  z = embed_histories(samples.history, encoder, cache_dir, progress=progress)
  _, val_idx = split_by_episode(samples, val_fraction, seed)
  val_mask = np.zeros(len(samples), bool)
  val_mask[val_idx] = True
  data = TrainData.build(
      z, samples.action, samples.target if heads == 1 else two_head_targets(samples),
      samples.episode, pool=list(pool),
      encoder_fingerprint=encoder.fingerprint, lam=lam, weight_N=samples.weight,
      val_mask_N=val_mask,
      extra_metadata={"typical_completion_tokens": typical_completion_tokens(trajs),
                      "cost_scale": samples.cost_scale,
                      "trajectory_folders": [str(f) for f in folders],
                      "samples": samples.report()})
  return data, samples


def train_from_config(config, workdir: str | Path, *, progress: bool = True,
                      init_from: str | Path | None = None):
  """Loads the trajectories named by config.data, embeds them, trains; returns the
  TrainResult (best checkpoint under workdir/checkpoints). init_from: warm start
  from that checkpoint's parameters (Stage B)."""
  from mtr_jax.embeddings import make_encoder
  from mtr_jax.pool import load_pool
  from mtr_jax.training.train import train
  pool = load_pool(config.pool)
  encoder = make_encoder(config.encoder)
  data, samples = load_train_data(
      list(config.data.folders), pool, encoder, cache_dir=config.data.cache_dir,
      lam=config.data.lam, aec=config.data.aec, max_weight=config.data.max_weight,
      val_fraction=config.train.val_fraction, seed=config.train.seed,
      heads=config.train.model.get("heads", 1), progress=progress)
  print(f"training data: {samples.report()}", flush=True)
  return train(config.train, data, workdir, progress=progress, init_from=init_from)
