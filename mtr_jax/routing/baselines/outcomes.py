"""Per-episode outcome targets of the single-turn routers, from trajectories.

A single-turn router learns "for this task, how well does model m do and what
does it cost" from whole episodes. The query of an episode is its history at
turn 0 (`task_history`: task and initial observation), as text
(`history_text`); episodes with the same query text (runs of one variation)
are pooled.

Each episode contributes one record per pool model that wrote at least one of
its steps:
- score: the episode's normalised final score S_norm (`normalised_score`);
- cost: the episode's cost had that model written every step, estimated as
  (the model's mean step cost in this episode) x (the episode's number of
  steps), divided by the benchmark's mean training episode cost; exact for a
  single-model episode;
- weight: the model's share of the episode's in-pool steps (1 for a
  single-model episode). With mixed-model (roulette) episodes the outcome is
  credited to every model in proportion to its share; `min_share` drops the
  records below it (min_share=1 keeps single-model episodes only).

Records of one (query, model) pair are averaged with their weights into dense
[Q, K] tables; weight 0 means "never observed".
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from mtr_jax.embeddings import history_text
from mtr_jax.routing.baselines.common import task_history
from mtr_jax.training.targets import mean_episode_cost, normalised_score
from mtr_jax.trajectories import resolve_model


@dataclasses.dataclass
class Outcomes:
  """Outcome tables over Q distinct queries and the K models of `pool_names`.

  texts: the query text of each row (encoder input).
  score_QxK / cost_QxK: weighted means (0 where unobserved).
  weight_QxK: summed weights (0: unobserved).
  episodes_Q: how many episodes each query has.
  """

  texts: list[str]
  score_QxK: np.ndarray
  cost_QxK: np.ndarray
  weight_QxK: np.ndarray
  episodes_Q: np.ndarray
  pool_names: tuple[str, ...]
  cost_scale: dict[str, float]

  @property
  def observed_QxK(self) -> np.ndarray:
    return self.weight_QxK > 0

  def __len__(self) -> int:
    return len(self.texts)

  def model_means(self) -> tuple[np.ndarray, np.ndarray]:
    """(score_K, cost_K): each model's weighted mean over every query (NaN if none)."""
    w = self.weight_QxK
    total = w.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
      return ((w * self.score_QxK).sum(0) / total, (w * self.cost_QxK).sum(0) / total)

  def report(self) -> str:
    obs = self.observed_QxK
    return (f"{len(self)} queries from {int(self.episodes_Q.sum())} episodes; "
            f"{int(obs.sum())} of {obs.size} (query, model) pairs observed")


def episode_outcomes(trajectories: Sequence, pool, tokens=None, *,
                     min_share: float = 0.0,
                     cost_scale: dict[str, float] | None = None) -> Outcomes:
  """The outcome tables of `trajectories` (see the module docstring).

  tokens: the history encoder (truncates query texts as the encoder will);
    None: untruncated text.
  cost_scale: benchmark -> mean episode cost; None: from `trajectories`.
  """
  trajectories = list(trajectories)
  if not 0.0 <= min_share <= 1.0:
    raise ValueError(f"min_share must lie in [0, 1], got {min_share}")
  if cost_scale is None:
    cost_scale = mean_episode_cost(trajectories)
  names = tuple(pool.names)
  rows: dict[str, int] = {}
  records: list[tuple[int, int, float, float, float]] = []
  n_episodes: dict[int, int] = {}
  resolved: dict[str, int | None] = {}
  for traj in trajectories:
    steps = [s for s in traj.steps if s.error is None]
    per_model: dict[int, list[float]] = {}
    for s in steps:
      if s.model not in resolved:
        name = resolve_model(pool, s.model)
        resolved[s.model] = None if name is None else names.index(name)
      k = resolved[s.model]
      if k is not None:
        per_model.setdefault(k, []).append(s.cost)
    n_in_pool = sum(len(v) for v in per_model.values())
    if n_in_pool == 0:
      continue
    text = history_text(task_history(traj.messages), tokens)
    q = rows.setdefault(text, len(rows))
    s_norm = normalised_score(traj.final_score, traj.benchmark)
    scale = cost_scale[traj.benchmark]
    kept = 0
    for k, costs in per_model.items():
      share = len(costs) / n_in_pool
      if share + 1e-12 < min_share:
        continue
      est = float(np.mean(costs)) * len(steps) / scale
      records.append((q, k, s_norm, est, share))
      kept += 1
    if kept:
      n_episodes[q] = n_episodes.get(q, 0) + 1
  if not records:
    raise ValueError(f"no episode outcomes: none of {len(trajectories)} trajectories has a "
                     f"step by a model of the pool {list(names)}"
                     + (f" with a share >= {min_share}" if min_share > 0 else ""))
  used = sorted({r[0] for r in records})
  remap = {q: i for i, q in enumerate(used)}
  texts_by_row = {q: t for t, q in rows.items()}
  shape = (len(used), len(names))
  w, ws, wc = np.zeros(shape), np.zeros(shape), np.zeros(shape)
  episodes = np.array([n_episodes[q] for q in used], np.int64)
  for q, k, s, c, share in records:
    i = remap[q]
    w[i, k] += share
    ws[i, k] += share * s
    wc[i, k] += share * c
  with np.errstate(invalid="ignore", divide="ignore"):
    score = np.where(w > 0, ws / np.where(w > 0, w, 1), 0.0)
    cost = np.where(w > 0, wc / np.where(w > 0, w, 1), 0.0)
  return Outcomes([texts_by_row[q] for q in used], score, cost, w, episodes, names,
                  dict(cost_scale))
