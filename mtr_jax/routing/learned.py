"""The learned router: embed the history once, score every candidate, choose.

Budget-aware beyond the reference: a candidate whose expected cost for this call
(prompt tokens x its input price + its typical completion x its output price)
exceeds the remaining budget is masked out, as is one whose context window the
prompt does not fit. If that masks every candidate, the cheapest one that fits
is kept, so the episode can still go on until the loop's cost limit stops it.

lam: the cost weight. A one-head estimator learned one lambda from its targets
(the checkpoint's); a two-head estimator (outcome, remaining cost) takes any lambda
here, so a lambda sweep at routing time reuses one trained estimator.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from flax import nnx

from mtr_jax.agents.tokens import TokenCounter, default_counter
from mtr_jax.embeddings import history_text, make_encoder
from mtr_jax.estimator.features import FeatureStats, model_features, model_ids
from mtr_jax.estimator.model import Estimator, EstimatorConfig
from mtr_jax.estimator.scoring import make_scorer
from mtr_jax.pool import Pool
from mtr_jax.routing.base import RouteDecision
from mtr_jax.routing.policies import Policy

DEFAULT_COMPLETION_TOKENS = 1000


@dataclasses.dataclass
class _PoolView:
  """Per-pool arrays, computed once per pool object."""

  feats_Kx8: np.ndarray
  ids_K: np.ndarray
  completion_K: np.ndarray
  in_price_K: np.ndarray
  out_price_K: np.ndarray
  max_input_K: np.ndarray


class LearnedRouter:
  """Routes with a trained estimator. `select` follows the loop's router hook."""

  def __init__(self, graphdef, params, *, feature_stats: FeatureStats,
               known_models: list[str], encoder, policy: Policy = Policy(),
               typical_completion: Mapping[str, float] | None = None,
               budget_aware: bool = True, seed: int = 0,
               counter: TokenCounter | None = None, lam: float | None = None):
    self.graphdef, self.params = graphdef, params
    self.lam = lam
    self.stats = feature_stats
    self.known_models = list(known_models)
    self.encoder = encoder
    self.policy = policy
    self.typical_completion = dict(typical_completion or {})
    self.budget_aware = budget_aware
    self.seed = seed
    self.counter = counter or default_counter()
    self._scorer = make_scorer(graphdef)
    self._views: dict[int, tuple[Pool, _PoolView]] = {}
    self._rng = np.random.default_rng(seed)
    self._warned: set[str] = set()

  # -------------------------------------------------------------------------
  @classmethod
  def from_checkpoint(cls, path: str | Path, *, policy: Policy = Policy(),
                      encoder=None, seed: int = 0, budget_aware: bool = True,
                      lam: float | None = None) -> "LearnedRouter":
    """Restores parameters and metadata on CPU (no optimiser state). lam: the
    routing-time cost weight of a two-head estimator (default: the training lambda);
    a one-head estimator accepts only its training lambda."""
    from mtr_jax.training.checkpoint import restore_for_inference
    params, meta = restore_for_inference(path)
    config = EstimatorConfig.from_dict(meta["estimator_config"])
    trained = float(meta["lambda"])
    if lam is None:
      lam = trained
    elif not np.isfinite(lam) or lam < 0:
      raise ValueError(f"{path}: lam must be a finite number >= 0, got {lam!r}")
    elif config.heads == 1 and not np.isclose(lam, trained):
      raise ValueError(f"{path}: this one-head estimator was trained with lambda="
                       f"{trained:g} built into its targets, so it cannot route with "
                       f"lam={lam:g}; train a two-head estimator (train.model.heads=2) "
                       "to choose lambda at routing time, or retrain with data.lam")
    graphdef, _ = nnx.split(Estimator(config, rngs=nnx.Rngs(0)))
    if encoder is None:
      encoder = make_encoder(meta["encoder_fingerprint"]["name"])
    fp = encoder.fingerprint
    saved = meta["encoder_fingerprint"]
    if fp != saved:
      raise ValueError(f"{path}: the checkpoint was trained on embeddings of encoder "
                       f"{saved}, but the router's encoder is {fp}")
    return cls(graphdef, params, feature_stats=FeatureStats.from_dict(meta["feature_stats"]),
               known_models=meta["known_models"], encoder=encoder, policy=policy,
               typical_completion=meta.get("typical_completion_tokens"),
               budget_aware=budget_aware, seed=seed, lam=float(lam))

  # -------------------------------------------------------------------------
  def reset(self, episode_seed: int) -> None:
    self._rng = np.random.default_rng([self.seed, episode_seed & 0xFFFFFFFF, 11])

  def _view(self, pool: Pool) -> _PoolView:
    cached = self._views.get(id(pool))
    if cached is not None and cached[0] is pool:
      return cached[1]
    unseen = [m for m in pool.names if m not in self.known_models]
    for m in unseen:
      if m not in self._warned:
        self._warned.add(m)
        warnings.warn(f"model {m!r} was not seen in training: it is scored from its "
                      f"metadata alone (zero residual embedding)", stacklevel=3)
    view = _PoolView(
        feats_Kx8=model_features(list(pool), self.stats),
        ids_K=model_ids(pool.names, self.known_models),
        completion_K=np.array([self.typical_completion.get(m, DEFAULT_COMPLETION_TOKENS)
                               for m in pool.names], np.float64),
        in_price_K=np.array([m.input_price for m in pool], np.float64),
        out_price_K=np.array([m.output_price for m in pool], np.float64),
        max_input_K=np.array([m.max_input_tokens for m in pool], np.float64))
    self._views[id(pool)] = (pool, view)
    return view

  def candidate_mask(self, view: _PoolView, prompt_tokens: int, spent: float,
                     budget: float) -> tuple[np.ndarray, np.ndarray]:
    """(mask_K, expected cost_K) of this call for every candidate."""
    expected = (prompt_tokens * view.in_price_K
                + view.completion_K * view.out_price_K) / 1e6
    fits = view.max_input_K >= prompt_tokens
    mask = fits.copy()
    if self.budget_aware:
      mask &= expected <= max(budget - spent, 0.0)
    if not mask.any():
      pick = np.where(fits, expected, np.inf)
      mask[int(np.argmin(pick if np.isfinite(pick).any() else expected))] = True
    return mask, expected

  def scores(self, z_hist_D: np.ndarray, view: _PoolView, mask_K: np.ndarray) -> np.ndarray:
    q = self._scorer(self.params, z_hist_D[None, :], view.feats_Kx8, view.ids_K, mask_K,
                     lam=None if self.lam is None else np.float32(self.lam))
    return np.asarray(q[0])

  def embed(self, messages) -> np.ndarray:
    text = history_text(messages, self.encoder)
    return self.encoder.encode([text])[0]

  def select(self, messages, pool: Pool, spent: float, budget: float) -> RouteDecision:
    view = self._view(pool)
    prompt_tokens = self.counter.count_messages(messages)
    mask, expected = self.candidate_mask(view, prompt_tokens, spent, budget)
    q = self.scores(self.embed(messages), view, mask)
    k, propensity, probs = self.policy.choose(q, self._rng)
    info: dict[str, Any] = {
        "policy": self.policy.name,
        "scores": {m: (float(s) if np.isfinite(s) else None) for m, s in zip(pool.names, q)},
        "greedy_model": pool.names[int(np.argmax(q))],
    }
    if self.lam is not None:
      info["lam"] = self.lam
    if not mask.all():
      info["masked"] = [m for m, ok in zip(pool.names, mask) if not ok]
    if self.policy.name == "mixed":
      info["beta"] = self.policy.beta
    return RouteDecision(pool.names[k], propensity, info)
