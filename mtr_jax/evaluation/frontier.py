"""Cost-aware summaries of a swept router: its cost-score hull, AIQ and APGR.

A swept router gives points (c_i, s_i): mean cost per episode (USD, or any one
unit used throughout) and mean score, one point per lambda, budget, ...

Hull (`upper_hull`). Sort by cost; keep the cheapest point (the best-scoring
one among equally cheap points) and every point that scores strictly higher
than every cheaper kept point (the Pareto front); then keep the vertices of the
upper convex hull of that front (Andrew's monotone chain). The result is a
piecewise-linear, non-decreasing, concave function h(c) on [c_0, c_n]: any
point on a segment is reachable by randomly mixing its two end configurations
per episode, so dominated and below-hull points are never worth choosing.
Beyond the most expensive vertex h stays flat (spending more is allowed, not
required); below the cheapest vertex h is undefined (see `below`).

AIQ (RouterBench's "average improvement in quality", adapted to dollars):
  AIQ = 1/(c_hi - c_lo) * integral_{c_lo}^{c_hi} h(c) dc,
by default over the hull's own range [c_0, c_n]; a common range lets routers be
compared. For c_lo == c_hi AIQ is h(c_lo) (the limit).

PGR / APGR (RouteLLM's "performance gap recovered", adapted to dollars): with
the weak model w = the cheapest single model (ties: the higher score) and the
strong model s = the best-scoring single model (ties: the cheaper),
  PGR(c)  = (h(c) - score_w) / (score_s - score_w)
  APGR    = 1/(c_s - c_w) * integral_{c_w}^{c_s} PGR(c) dc.
Where the router has no point at or below c (c < c_0), h(c) is taken as the
weak model's score (PGR 0: no gain is credited where the router cannot run).
Integrals are exact (the trapezoid rule on the breakpoints of a piecewise-
linear function).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Hull:
  """Vertices of an upper hull, by increasing cost (and non-decreasing score);
  `indices` are the positions of the vertices in the input points."""

  costs: np.ndarray
  scores: np.ndarray
  indices: np.ndarray

  def to_dict(self) -> dict:
    return {"costs": self.costs.tolist(), "scores": self.scores.tolist(),
            "indices": self.indices.tolist()}


def _points(costs, scores) -> tuple[np.ndarray, np.ndarray]:
  c = np.asarray(costs, dtype=np.float64).ravel()
  s = np.asarray(scores, dtype=np.float64).ravel()
  if c.shape != s.shape:
    raise ValueError(f"costs and scores must have one length, got {c.size} and {s.size}")
  if c.size == 0:
    raise ValueError("no points: a hull needs at least one (cost, score) point")
  if not (np.all(np.isfinite(c)) and np.all(np.isfinite(s))):
    raise ValueError("costs and scores must be finite")
  if np.any(c < 0):
    raise ValueError(f"costs must be non-negative, got {c.tolist()}")
  return c, s


def _cross(o, a, b) -> float:
  return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def upper_hull(costs, scores) -> Hull:
  """The non-decreasing upper convex hull of the points (module docstring)."""
  c, s = _points(costs, scores)
  order = np.lexsort((-s, c))  # by cost, then best score first
  front: list[int] = []
  for i in order:
    if not front or s[i] > s[front[-1]]:
      if front and c[i] == c[front[-1]]:
        continue  # same cost, lower score than the kept one (sorted)
      front.append(int(i))
  hull: list[int] = []
  for i in front:  # upper chain: drop a middle point on or below the chord
    while len(hull) >= 2 and _cross((c[hull[-2]], s[hull[-2]]), (c[hull[-1]], s[hull[-1]]),
                                    (c[i], s[i])) >= 0:
      hull.pop()
    hull.append(i)
  idx = np.array(hull, dtype=np.int64)
  return Hull(c[idx], s[idx], idx)


def hull_score(hull: Hull, cost, *, below: float | None = None):
  """h(c): linear between vertices, flat after the last; for c below the
  cheapest vertex `below`, or ValueError when `below` is None."""
  x = np.asarray(cost, dtype=np.float64)
  if np.any(x < hull.costs[0]) and below is None:
    raise ValueError(f"cost {x.min():g} is below the router's cheapest point "
                     f"({hull.costs[0]:g}); pass `below` to score it")
  y = np.interp(x, hull.costs, hull.scores)
  if below is not None:
    y = np.where(x < hull.costs[0], below, y)
  return float(y) if y.ndim == 0 else y


def _integral(hull: Hull, lo: float, hi: float, below: float | None) -> float:
  """Exact integral of h over [lo, hi] (piecewise linear, a step at c_0)."""
  xs = np.unique(np.concatenate([[lo, hi], hull.costs[(hull.costs > lo) & (hull.costs < hi)]]))
  total = 0.0
  for a, b in zip(xs[:-1], xs[1:]):
    if b <= hull.costs[0]:  # entirely below the cheapest vertex
      if below is None:
        raise ValueError(f"cost range starts at {lo:g}, below the router's cheapest "
                         f"point ({hull.costs[0]:g}); pass `below`")
      total += below * (b - a)
    else:
      fa, fb = np.interp([a, b], hull.costs, hull.scores)
      total += 0.5 * (fa + fb) * (b - a)
  return float(total)


def aiq(hull: Hull, cost_range: tuple[float, float] | None = None, *,
        below: float | None = None) -> float:
  """Area under h over [c_lo, c_hi] / (c_hi - c_lo); default range: the hull's."""
  lo, hi = cost_range if cost_range is not None else (hull.costs[0], hull.costs[-1])
  lo, hi = float(lo), float(hi)
  if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
    raise ValueError(f"cost range must be finite with lo <= hi, got ({lo}, {hi})")
  if hi == lo:
    return hull_score(hull, lo, below=below)
  return _integral(hull, lo, hi, below) / (hi - lo)


@dataclasses.dataclass(frozen=True)
class Anchor:
  """A single model's point: name, mean cost per episode, mean score."""

  name: str
  cost: float
  score: float


def anchors(single_models: Mapping[str, tuple[float, float]]) -> tuple[Anchor, Anchor]:
  """(weak, strong) of {model: (cost, score)}: the cheapest model (ties: the
  higher score) and the best-scoring model (ties: the cheaper)."""
  if len(single_models) < 2:
    raise ValueError(f"PGR needs at least two single models, got {list(single_models)}")
  items = [Anchor(m, float(c), float(s)) for m, (c, s) in single_models.items()]
  weak = min(items, key=lambda a: (a.cost, -a.score))
  strong = min(items, key=lambda a: (-a.score, a.cost))
  if strong.score <= weak.score:
    raise ValueError(f"the strongest model {strong.name!r} ({strong.score:g}) does not "
                     f"score above the cheapest {weak.name!r} ({weak.score:g}): PGR is "
                     "undefined")
  if strong.cost <= weak.cost:
    raise ValueError(f"the strongest model {strong.name!r} is not more expensive than "
                     f"the cheapest {weak.name!r}: APGR's cost range is empty")
  return weak, strong


def pgr(score, score_weak: float, score_strong: float):
  """(score - weak) / (strong - weak): 0 at the weak model, 1 at the strong."""
  gap = float(score_strong) - float(score_weak)
  if gap == 0:
    raise ValueError("PGR is undefined when the strong and weak scores are equal")
  out = (np.asarray(score, dtype=np.float64) - float(score_weak)) / gap
  return float(out) if out.ndim == 0 else out


def apgr(hull: Hull, weak: Anchor, strong: Anchor) -> float:
  """The mean of PGR(c) over [weak.cost, strong.cost] (module docstring)."""
  gap = strong.score - weak.score
  if gap == 0 or strong.cost <= weak.cost:
    raise ValueError("APGR needs a strong model that costs and scores more than the weak")
  mean_score = _integral(hull, weak.cost, strong.cost, weak.score) / (strong.cost - weak.cost)
  return (mean_score - weak.score) / gap


def frontier_summary(costs: Sequence[float], scores: Sequence[float], *,
                     labels: Sequence[str] | None = None,
                     single_models: Mapping[str, tuple[float, float]] | None = None,
                     cost_range: tuple[float, float] | None = None) -> dict:
  """A JSON-ready summary of a swept router: its points, hull, AIQ (over
  `cost_range`, default the hull's range), and, given the single models'
  {name: (cost, score)}, the weak/strong anchors, PGR at each hull vertex and
  APGR. Points below the range's start are scored as the weak model's score
  when single models are given (else the range must start on the hull)."""
  c, s = _points(costs, scores)
  labels = list(labels) if labels is not None else [str(i) for i in range(c.size)]
  if len(labels) != c.size:
    raise ValueError(f"{len(labels)} labels for {c.size} points")
  hull = upper_hull(c, s)
  out = {"points": [{"label": l, "cost": float(ci), "score": float(si)}
                    for l, ci, si in zip(labels, c, s)],
         "hull": {**hull.to_dict(), "labels": [labels[i] for i in hull.indices]}}
  below = None
  if single_models:
    weak, strong = anchors(single_models)
    below = weak.score
    out.update(weak=dataclasses.asdict(weak), strong=dataclasses.asdict(strong),
               pgr_at_hull=pgr(hull.scores, weak.score, strong.score).tolist(),
               apgr=apgr(hull, weak, strong))
  rng = cost_range if cost_range is not None else (hull.costs[0], hull.costs[-1])
  out.update(aiq=aiq(hull, rng, below=below), aiq_range=[float(rng[0]), float(rng[1])])
  return out


def _load(result) -> dict:
  if isinstance(result, Mapping):
    return dict(result)
  from mtr_jax.evaluation.evaluate import load_results
  return load_results(result)


def frontier_from_results(router_results: Sequence, single_model_results: Sequence = (),
                          *, cost_range: tuple[float, float] | None = None) -> dict:
  """`frontier_summary` of results dicts (or results.json paths/folders) written
  by `evaluate`: one point per swept router configuration (labelled by its
  router spec), anchored by the single-model results (named by their model)."""
  routers = [_load(r) for r in router_results]
  points = [(r.get("router", {}).get("spec") or r.get("folder") or str(i), r["point"])
            for i, r in enumerate(routers)]
  missing = [label for label, p in points if p is None]
  if missing:
    raise ValueError(f"results without episodes (no cost-score point): {missing}")
  single = {}
  for r in map(_load, single_model_results):
    name = (r.get("router") or {}).get("model")
    if not name:
      raise ValueError(f"not a single-model result (router {r.get('router')!r})")
    if r["point"] is None:
      raise ValueError(f"single-model result {name!r} has no episodes")
    single[name] = (r["point"]["cost"], r["point"]["score"])
  return frontier_summary([p["cost"] for _, p in points], [p["score"] for _, p in points],
                          labels=[label for label, _ in points],
                          single_models=single or None, cost_range=cost_range)
