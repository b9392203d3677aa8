"""The two families of learned baselines and how each turns trajectories into data.

- `PerTurnRouter`: one sample per routed step, as the MTRouter estimator
  (`build_samples`): the history embedding z_t, the model a_t, and the two
  parts of its target y_t = score_t - lam * cost_t, fitted separately so that
  lam is a routing-time knob:
    score_t = S_norm - sum_{i>=t} rho_i   (annealed error costs, if `aec`)
    cost_t  = sum_{i>=t} c_i / cost_scale (remaining normalised cost).
  Routing: embed the history each turn, Q_k = score_k - lam * cost_k, argmax.
- `SingleTurnRouter`: one row per distinct task (turn-0 history) with every
  model's episode outcome (`episode_outcomes`); routes once per episode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mtr_jax.embeddings import history_text
from mtr_jax.routing.baselines.common import BaselineRouter, check_embeddings, embed_texts
from mtr_jax.routing.baselines.outcomes import Outcomes, episode_outcomes


class PerTurnRouter(BaselineRouter):
  """Routes greedily every turn on the whole history (see module docstring).

  lam: cost weight at routing time (saved; `load(..., lam=x)` changes it).
  aec: subtract the annealed error costs from the score part.
  ipw: weight samples by 1/propensity (clipped at `max_weight`).
  """

  single_turn = False

  def __init__(self, encoder, *, lam: float = 1.0, aec: bool = True, ipw: bool = False,
               max_weight: float | None = None, seed: int = 0):
    super().__init__(encoder, seed=seed)
    self.lam, self.aec, self.ipw, self.max_weight = float(lam), bool(aec), bool(ipw), max_weight

  def config(self) -> dict[str, Any]:
    return {**super().config(), "lam": self.lam, "aec": self.aec, "ipw": self.ipw,
            "max_weight": self.max_weight}

  def fit(self, trajectories, pool, *, cache_dir: str | Path | None = None,
          progress: bool = False) -> "PerTurnRouter":
    from mtr_jax.training.samples import build_samples
    samples = build_samples(list(trajectories), pool, lam=self.lam, aec=self.aec,
                            ipw=self.ipw, max_weight=self.max_weight)
    if len(samples) == 0:
      raise ValueError(f"{self.kind}: no training samples ({samples.report()})")
    texts = [history_text(h, self.encoder) for h in samples.history]
    z = embed_texts(texts, self.encoder, cache_dir, progress=progress)
    self.fit_samples(samples, z)
    self.meta.update(samples=samples.report(), cost_scale=samples.cost_scale)
    return self

  def fit_samples(self, samples, z_NxD) -> "PerTurnRouter":
    """Fits on `Samples` and their history embeddings."""
    z = check_embeddings(z_NxD, len(samples), f"{self.kind}.fit_samples")
    score = samples.target.astype(np.float64) + samples.lam * samples.remaining_cost
    self.fit_arrays(z, samples.action, score, samples.remaining_cost.astype(np.float64),
                    samples.weight.astype(np.float64), samples.pool_names)
    return self

  def fit_arrays(self, z_NxD, action_N, score_N, cost_N, weight_N, model_names) -> None:
    raise NotImplementedError

  def q_values(self, score_K: np.ndarray, cost_K: np.ndarray) -> np.ndarray:
    return score_K - self.lam * cost_K


class SingleTurnRouter(BaselineRouter):
  """Routes once per episode from the task (see module docstring).

  min_share: drop (episode, model) records where the model wrote less than
    this share of the episode's steps (1.0: single-model episodes only).
  """

  single_turn = True

  def __init__(self, encoder, *, min_share: float = 0.0, seed: int = 0):
    super().__init__(encoder, seed=seed)
    self.min_share = float(min_share)

  def config(self) -> dict[str, Any]:
    return {**super().config(), "min_share": self.min_share}

  def fit(self, trajectories, pool, *, cache_dir: str | Path | None = None,
          progress: bool = False) -> "SingleTurnRouter":
    outcomes = episode_outcomes(list(trajectories), pool, self.encoder,
                                min_share=self.min_share)
    z = embed_texts(outcomes.texts, self.encoder, cache_dir, progress=progress)
    self.fit_outcomes(outcomes, z)
    self.meta.update(outcomes=outcomes.report(), cost_scale=outcomes.cost_scale)
    return self

  def fit_outcomes(self, outcomes: Outcomes, z_QxD) -> "SingleTurnRouter":
    raise NotImplementedError
