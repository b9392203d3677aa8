"""Estimator modules: zero residuals, unseen models, PyTorch-like init, shapes."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from mtr_jax.estimator import model as model_lib

CONFIG = model_lib.EstimatorConfig(hist_dim=12, num_known_models=5)


def make(config=CONFIG, seed=0):
  return model_lib.Estimator(config, rngs=nnx.Rngs(seed))


def feats(k, seed=1):
  return jax.random.normal(jax.random.key(seed), (k, 8))


def test_residual_table_starts_at_zero():
  residual = make().model_encoder.residual[...]
  chex.assert_shape(residual, (5, 16))
  np.testing.assert_array_equal(residual, 0.0)


def test_shapes():
  est = make()
  f = feats(4)
  z_m = est.model_encoder(f, jnp.array([0, 1, -1, 4]))
  chex.assert_shape(z_m, (4, 64))
  q = est.q_network(jnp.ones((3, 12)), jnp.broadcast_to(z_m[:1], (3, 64)))
  chex.assert_shape(q, (3,))
  assert est.model_encoder.norm.epsilon == 1e-5


def test_unseen_model_uses_metadata_alone():
  est = make()
  table = jax.random.normal(jax.random.key(7), (5, 16))
  est.model_encoder.residual[...] = table
  zero = make()  # same seed: same weights, zero residual table
  f = feats(1)
  unseen = est.model_encoder(f, jnp.array([-1]))
  out_of_range = est.model_encoder(f, jnp.array([5]))
  metadata_only = zero.model_encoder(f, jnp.array([2]))
  chex.assert_trees_all_close(unseen, metadata_only, atol=1e-6)
  chex.assert_trees_all_close(out_of_range, metadata_only, atol=1e-6)
  known = est.model_encoder(f, jnp.array([2]))
  assert np.abs(np.asarray(known - metadata_only)).max() > 1e-3


def test_no_known_models():
  est = make(model_lib.EstimatorConfig(hist_dim=12, num_known_models=0))
  chex.assert_shape(est.model_encoder(feats(3), jnp.array([-1, 0, 2])), (3, 64))


def test_pytorch_like_init():
  est = make(model_lib.EstimatorConfig(hist_dim=384, num_known_models=6))
  linears = [*est.model_encoder.meta, est.model_encoder.proj, *est.q_network.hidden,
             est.q_network.out]
  fan_ins = [lin.in_features for lin in linears]
  assert fan_ins == [8, 32, 48, 448, 256, 256]
  for lin in linears:
    bound = 1.0 / np.sqrt(lin.in_features)
    for p in (lin.kernel[...], lin.bias[...]):
      a = np.abs(np.asarray(p))
      assert a.max() <= bound
      if p.size >= 32:  # uniform over the whole range, not a narrower init
        assert a.max() > 0.8 * bound
        assert abs(np.asarray(p).mean()) < 0.25 * bound
  norm = est.model_encoder.norm
  np.testing.assert_array_equal(norm.scale[...], 1.0)
  np.testing.assert_array_equal(norm.bias[...], 0.0)


def test_dropout_needs_key_and_changes_output():
  est = make()
  z_x, z_m = jnp.ones((64, 12)), jnp.ones((64, 64))
  with pytest.raises(ValueError, match="key"):
    est.q_network(z_x, z_m, deterministic=False)
  key = jax.random.key(3)
  a = est.q_network(z_x, z_m, key=key, deterministic=False)
  b = est.q_network(z_x, z_m, key=key, deterministic=False)
  det = est.q_network(z_x, z_m)
  chex.assert_trees_all_equal(a, b)
  assert np.abs(np.asarray(a - det)).max() > 1e-4


def test_config_round_trip():
  cfg = model_lib.EstimatorConfig(hist_dim=1024, q_widths=(128,), dropout=0.0)
  back = model_lib.EstimatorConfig.from_dict(cfg.to_dict())
  assert back == cfg and hash(back) == hash(cfg)
