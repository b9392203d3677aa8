"""k-means in numpy (scikit-learn is not a dependency).

k-means++ seeding, Lloyd iterations until the assignment stops changing (or the
centroids move less than `tol`), `n_init` restarts keeping the lowest inertia.
An empty cluster is re-seeded with the point farthest from its centroid.
Everything is seeded: the same inputs and seed give the same clusters.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class KMeans:
  """centroids [k, D] (float64), labels [N], inertia (sum of squared distances)."""

  centroids: np.ndarray
  labels: np.ndarray
  inertia: float
  n_iter: int

  @property
  def k(self) -> int:
    return int(self.centroids.shape[0])


def sq_distances(x_NxD: np.ndarray, c_KxD: np.ndarray) -> np.ndarray:
  """Squared Euclidean distances [N, K] (clipped at 0 against rounding)."""
  x = np.asarray(x_NxD, np.float64)
  c = np.asarray(c_KxD, np.float64)
  d = (x * x).sum(1)[:, None] - 2.0 * x @ c.T + (c * c).sum(1)[None, :]
  return np.maximum(d, 0.0)


def assign(x_NxD: np.ndarray, c_KxD: np.ndarray) -> np.ndarray:
  """Index of the nearest centroid of each row (ties: the lowest index)."""
  return np.argmin(sq_distances(x_NxD, c_KxD), axis=1)


def nearest(x_D: np.ndarray, c_KxD: np.ndarray, p: int = 1) -> np.ndarray:
  """The `p` nearest centroids of one point, nearest first."""
  d = sq_distances(np.asarray(x_D)[None, :], c_KxD)[0]
  return np.argsort(d, kind="stable")[:max(1, min(p, len(d)))]


def _plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
  n = len(x)
  centers = [x[rng.integers(n)]]
  d = sq_distances(x, np.stack(centers))[:, 0]
  for _ in range(1, k):
    total = d.sum()
    i = int(rng.choice(n, p=d / total)) if total > 0 else int(rng.integers(n))
    centers.append(x[i])
    d = np.minimum(d, sq_distances(x, x[i][None, :])[:, 0])
  return np.stack(centers)


def _lloyd(x: np.ndarray, c: np.ndarray, max_iter: int, tol: float) -> KMeans:
  labels = None
  it = 0
  for it in range(1, max_iter + 1):
    d = sq_distances(x, c)
    new = np.argmin(d, axis=1)
    moved = np.zeros(len(c))
    for j in range(len(c)):
      members = new == j
      if members.any():
        centre = x[members].mean(0)
      else:  # empty: the point worst served by its centroid
        far = int(np.argmax(d[np.arange(len(x)), new]))
        centre, new[far] = x[far], j
      moved[j] = float(((centre - c[j]) ** 2).sum())
      c[j] = centre
    if labels is not None and np.array_equal(new, labels) or moved.max() <= tol:
      labels = new
      break
    labels = new
  labels = assign(x, c)
  inertia = float(sq_distances(x, c)[np.arange(len(x)), labels].sum())
  return KMeans(c, labels, inertia, it)


def kmeans(x_NxD, k: int, *, n_init: int = 4, max_iter: int = 100, tol: float = 1e-10,
           seed: int = 0, max_points: int | None = None) -> KMeans:
  """Clusters the rows of `x_NxD` into at most `k` clusters.

  k is capped at the number of distinct rows. With `max_points`, centroids are
  fitted on a seeded random subset of that many rows; `labels` still cover
  every row.
  """
  x = np.asarray(x_NxD, np.float64)
  if x.ndim != 2 or len(x) == 0:
    raise ValueError(f"kmeans: expected a non-empty [N, D] array, got shape {x.shape}")
  if k < 1:
    raise ValueError(f"kmeans: k must be >= 1, got {k}")
  rng = np.random.default_rng(seed)
  fit_x = x
  if max_points is not None and len(x) > max_points:
    fit_x = x[np.sort(rng.choice(len(x), max_points, replace=False))]
  k = min(k, len(np.unique(fit_x, axis=0)))
  best = None
  for _ in range(max(1, n_init)):
    result = _lloyd(fit_x, _plus_plus(fit_x, k, rng), max_iter, tol)
    if best is None or result.inertia < best.inertia:
      best = result
  if fit_x is not x:
    labels = assign(x, best.centroids)
    inertia = float(sq_distances(x, best.centroids)[np.arange(len(x)), labels].sum())
    best = KMeans(best.centroids, labels, inertia, best.n_iter)
  return best
