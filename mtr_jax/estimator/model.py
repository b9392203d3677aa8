"""The outcome estimator: score(x, m) = QNetwork(concat(z_x, ModelEncoder(m))).

z_x is a precomputed (frozen) history embedding; the model encoder turns the 8
metadata features of a model (features.py) plus a per-model residual embedding into
z_m. The residual table starts at zero, so a model the estimator never saw (id -1)
is represented by its metadata alone. Linear layers are initialised like PyTorch's
nn.Linear (kernel and bias uniform in +-1/sqrt(fan_in)); LayerNorm eps is 1e-5.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax
import jax.numpy as jnp
from flax import nnx

from mtr_jax.estimator.features import NUM_FEATURES


@dataclasses.dataclass(frozen=True)
class EstimatorConfig:
  hist_dim: int = 384  # z_x width (MiniLM: 384)
  num_known_models: int = 6  # rows of the residual table
  num_features: int = NUM_FEATURES
  meta_widths: tuple[int, ...] = (32, 32)  # meta MLP, ReLU between layers
  residual_dim: int = 16
  model_dim: int = 64  # z_m width
  q_widths: tuple[int, ...] = (256, 256)  # Q-net hidden layers (ReLU, Dropout)
  dropout: float = 0.1
  layernorm_eps: float = 1e-5
  # 1: the paper's scalar Q (the target has lambda built in). 2: two heads,
  # [outcome, remaining normalised cost], combined as outcome - lambda * cost at
  # routing time, so one estimator serves every lambda (scoring.combine_heads).
  heads: int = 1

  def __post_init__(self):
    if self.heads not in (1, 2):
      raise ValueError(f"EstimatorConfig.heads must be 1 (scalar Q) or 2 (outcome and "
                       f"cost), got {self.heads!r}")

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: Mapping[str, Any]) -> "EstimatorConfig":
    d = dict(d)
    for key in ("meta_widths", "q_widths"):
      if key in d:
        d[key] = tuple(d[key])
    return cls(**d)


def torch_linear(in_features: int, out_features: int, *, rngs: nnx.Rngs) -> nnx.Linear:
  """nnx.Linear initialised like torch.nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / in_features ** 0.5

  def uniform(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return nnx.Linear(in_features, out_features, kernel_init=uniform, bias_init=uniform,
                    rngs=rngs)


class ModelEncoder(nnx.Module):
  """(feats_Kx8, ids_K) -> z_m_KxM; ids outside [0, num_known_models) get no residual."""

  def __init__(self, config: EstimatorConfig, *, rngs: nnx.Rngs):
    widths = (config.num_features, *config.meta_widths)
    self.meta = nnx.List([torch_linear(a, b, rngs=rngs)
                          for a, b in zip(widths[:-1], widths[1:])])
    self.residual = nnx.Param(
        jnp.zeros((config.num_known_models, config.residual_dim), jnp.float32))
    self.proj = torch_linear(widths[-1] + config.residual_dim, config.model_dim,
                             rngs=rngs)
    self.norm = nnx.LayerNorm(config.model_dim, epsilon=config.layernorm_eps, rngs=rngs)

  def residual_for(self, ids_K: jax.Array) -> jax.Array:
    table_NxR = self.residual[...]
    n, r = table_NxR.shape
    if n == 0:
      return jnp.zeros((ids_K.shape[0], r), table_NxR.dtype)
    known_K = (ids_K >= 0) & (ids_K < n)
    rows_KxR = table_NxR[jnp.clip(ids_K, 0, n - 1)]
    return jnp.where(known_K[:, None], rows_KxR, jnp.zeros_like(rows_KxR))

  def __call__(self, feats_Kx8: jax.Array, ids_K: jax.Array) -> jax.Array:
    h = feats_Kx8
    for i, layer in enumerate(self.meta):
      h = layer(h)
      if i < len(self.meta) - 1:
        h = jax.nn.relu(h)
    h = jnp.concatenate([h, self.residual_for(ids_K)], axis=-1)
    return self.norm(self.proj(h))


class QNetwork(nnx.Module):
  """(z_x_BxD, z_m_BxM) -> q_B (heads=1) or q_BxH (heads=2):
  [Linear, ReLU, Dropout] x len(q_widths) -> Linear heads."""

  def __init__(self, config: EstimatorConfig, *, rngs: nnx.Rngs):
    widths = (config.hist_dim + config.model_dim, *config.q_widths)
    self.hidden = nnx.List([torch_linear(a, b, rngs=rngs)
                            for a, b in zip(widths[:-1], widths[1:])])
    self.dropout = nnx.Dropout(config.dropout)
    self.out = torch_linear(widths[-1], config.heads, rngs=rngs)
    self.heads = config.heads

  def __call__(self, z_x_BxD: jax.Array, z_m_BxM: jax.Array, *,
               key: jax.Array | None = None, deterministic: bool = True) -> jax.Array:
    """`key` is a dropout key, needed only when deterministic=False.

    z_m_BxM may also be [1, M] (one candidate for every row). The first layer is
    applied to concat(z_x, z_m) as z_x @ W[:D] + z_m @ W[D:] (the same function),
    so under a vmap over candidates the history half is computed once, not K times.
    """
    if not deterministic and key is None:
      raise ValueError("QNetwork: dropout (deterministic=False) needs a key")
    first = self.hidden[0]
    kernel = first.kernel[...]
    d = z_x_BxD.shape[-1]
    h = z_x_BxD @ kernel[:d] + z_m_BxM @ kernel[d:] + first.bias[...][None, :]
    for i, layer in enumerate(self.hidden):
      if i:
        h = layer(h)
      h = jax.nn.relu(h)
      if not deterministic:
        h = self.dropout(h, deterministic=False, rngs=jax.random.fold_in(key, i))
    out = self.out(h)
    return out[..., 0] if self.heads == 1 else out


class Estimator(nnx.Module):
  """Both halves. Scoring and losses live in scoring.py as pure functions."""

  def __init__(self, config: EstimatorConfig, *, rngs: nnx.Rngs):
    self.config = config
    self.model_encoder = ModelEncoder(config, rngs=rngs)
    self.q_network = QNetwork(config, rngs=rngs)
