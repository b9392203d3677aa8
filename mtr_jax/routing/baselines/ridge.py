"""Per-model ridge regression on history embeddings (the reference's baseline).

For each model k, on the samples whose action is k (reference:
`PerModelRidgeQFunction`, scikit-learn `Ridge` with an unpenalised intercept):

  score_k(z) = w_k . z + b_k,   cost_k(z) = v_k . z + c_k
  Q_k(z) = score_k(z) - lam * cost_k(z)

fitted in closed form (`fit_ridge`). Because ridge is linear in its targets,
fitting the two parts and combining them equals fitting y_t for the same lam.
A model without samples is never chosen (the reference scores it 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtr_jax.routing.baselines.families import PerTurnRouter


def fit_ridge(x_NxD, y_NxT, alpha: float, weight_N=None) -> tuple[np.ndarray, np.ndarray]:
  """Weighted ridge with an unpenalised intercept: (W [D, T], b [T]).

  Minimises sum_n w_n ||y_n - x_n W - b||^2 + alpha ||W||^2:
    xm, ym = weighted means;  Xc = X - xm, Yc = Y - ym
    W = (Xc^T diag(w) Xc + alpha I)^-1 Xc^T diag(w) Yc;   b = ym - xm W
  """
  x = np.asarray(x_NxD, np.float64)
  y = np.asarray(y_NxT, np.float64)
  squeeze = y.ndim == 1
  if squeeze:
    y = y[:, None]
  if x.ndim != 2 or y.shape[0] != x.shape[0] or x.shape[0] == 0:
    raise ValueError(f"fit_ridge: X {x.shape} and y {np.shape(y_NxT)} do not match")
  if alpha < 0:
    raise ValueError(f"fit_ridge: alpha must be >= 0, got {alpha}")
  w = np.ones(len(x)) if weight_N is None else np.asarray(weight_N, np.float64)
  if w.shape != (len(x),) or (w < 0).any() or w.sum() <= 0:
    raise ValueError("fit_ridge: weights must be [N] non-negative with a positive sum")
  xm, ym = w @ x / w.sum(), w @ y / w.sum()
  xc, yc = x - xm, y - ym
  xw = xc * w[:, None]
  a = xw.T @ xc
  a[np.diag_indices_from(a)] += alpha
  coef = np.linalg.lstsq(a, xw.T @ yc, rcond=None)[0] if alpha == 0 else \
      np.linalg.solve(a, xw.T @ yc)
  bias = ym - xm @ coef
  return (coef[:, 0], bias[0]) if squeeze else (coef, bias)


class RidgeRouter(PerTurnRouter):
  """Per-model ridge Q-function; greedy every turn. alpha: the L2 penalty."""

  kind = "ridge"

  def __init__(self, encoder, *, alpha: float = 1.0, **kwargs):
    super().__init__(encoder, **kwargs)
    self.alpha = float(alpha)

  def config(self) -> dict[str, Any]:
    return {**super().config(), "alpha": self.alpha}

  def fit_arrays(self, z_NxD, action_N, score_N, cost_N, weight_N, model_names) -> None:
    k_models, dim = len(model_names), z_NxD.shape[1]
    self.coef_KxDx2 = np.zeros((k_models, dim, 2))
    self.bias_Kx2 = np.zeros((k_models, 2))
    self.count_K = np.zeros(k_models, np.int64)
    y = np.stack([score_N, cost_N], 1)
    for k in range(k_models):
      rows = np.flatnonzero(np.asarray(action_N) == k)
      self.count_K[k] = len(rows)
      if len(rows):
        self.coef_KxDx2[k], self.bias_Kx2[k] = fit_ridge(z_NxD[rows], y[rows], self.alpha,
                                                         weight_N[rows])
    self.known_models = list(model_names)

  def arrays(self) -> dict[str, np.ndarray]:
    return {"coef_KxDx2": self.coef_KxDx2, "bias_Kx2": self.bias_Kx2, "count_K": self.count_K}

  def restore(self, arrays) -> None:
    self.coef_KxDx2, self.bias_Kx2 = arrays["coef_KxDx2"], arrays["bias_Kx2"]
    self.count_K = arrays["count_K"]

  def predict(self, z_D) -> tuple[np.ndarray, np.ndarray]:
    """(score_K, cost_K) predicted for one history embedding."""
    out_Kx2 = np.einsum("d,kdt->kt", np.asarray(z_D, np.float64), self.coef_KxDx2) + self.bias_Kx2
    return out_Kx2[:, 0], out_Kx2[:, 1]

  def scores(self, z_D) -> np.ndarray:
    q = self.q_values(*self.predict(z_D))
    return np.where(self.count_K > 0, q, -np.inf)
