"""Pure scoring and loss: jit vs eager, vmap vs loop, masking, gradients, training."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from mtr_jax.estimator import features, model as model_lib, scoring
from mtr_jax.pool import load_pool

B, D, K = 7, 12, 4


def split(hist_dim=D, num_known_models=K, seed=0, **kw):
  config = model_lib.EstimatorConfig(hist_dim=hist_dim,
                                     num_known_models=num_known_models, **kw)
  return nnx.split(model_lib.Estimator(config, rngs=nnx.Rngs(seed)))


def randomize_residual(params, seed=5):
  """Nonzero residuals, so that the residual path is exercised too."""
  res = params["model_encoder"]["residual"]
  res[...] = 0.3 * jax.random.normal(jax.random.key(seed), res[...].shape)
  return params


def inputs(seed=1):
  k1, k2 = jax.random.split(jax.random.key(seed))
  z_hist_BxD = jax.random.normal(k1, (B, D))
  feats_Kx8 = jax.random.normal(k2, (K, 8))
  ids_K = jnp.array([0, 1, 2, 3], jnp.int32)
  return z_hist_BxD, feats_Kx8, ids_K


def test_jit_equals_eager():
  graphdef, params = split()
  params = randomize_residual(params)
  z, f, ids = inputs()
  eager = scoring.score(graphdef, params, z, f, ids)
  jitted = scoring.make_scorer(graphdef)(params, z, f, ids)
  chex.assert_shape(eager, (B, K))
  chex.assert_trees_all_close(jitted, eager, atol=1e-5)
  key = jax.random.key(9)
  eager = scoring.score(graphdef, params, z, f, ids, key=key, deterministic=False)
  jitted = scoring.make_scorer(graphdef)(params, z, f, ids, key=key,
                                         deterministic=False)
  chex.assert_trees_all_close(jitted, eager, atol=1e-5)


def test_vmap_over_models_equals_python_loop():
  graphdef, params = split()
  params = randomize_residual(params)
  z, f, ids = inputs()
  q_BxK = scoring.score(graphdef, params, z, f, ids)
  est = nnx.merge(graphdef, params)
  cols = []
  for k in range(K):
    z_m_1xM = est.model_encoder(f[k:k + 1], ids[k:k + 1])
    cols.append(est.q_network(z, jnp.broadcast_to(z_m_1xM, (B, 64))))
  chex.assert_trees_all_close(q_BxK, jnp.stack(cols, axis=1), atol=1e-5)
  rows = [est.q_network(jnp.broadcast_to(z[b], (K, D)), est.model_encoder(f, ids))
          for b in range(B)]
  chex.assert_trees_all_close(q_BxK, jnp.stack(rows, axis=0), atol=1e-5)


def test_chosen_scores_equal_gathered_scores():
  graphdef, params = split()
  params = randomize_residual(params)
  z, f, ids = inputs()
  action_B = jnp.array([0, 3, 1, 1, 2, 0, 3])
  q_B = scoring.chosen_scores(graphdef, params, z, f, ids, action_B)
  chex.assert_shape(q_B, (B,))
  q_BxK = scoring.score(graphdef, params, z, f, ids)
  chex.assert_trees_all_close(
      q_B, jnp.take_along_axis(q_BxK, action_B[:, None], axis=1)[:, 0], atol=1e-5)


def test_dropout_per_model_streams():
  graphdef, params = split()
  z, f, _ = inputs()
  ids = jnp.array([-1, -1, -1, -1])  # identical candidates ...
  f = jnp.broadcast_to(f[:1], (K, 8))
  det = scoring.score(graphdef, params, z, f, ids)
  np.testing.assert_allclose(det, jnp.broadcast_to(det[:, :1], (B, K)), atol=1e-6)
  key = jax.random.key(4)
  a = scoring.score(graphdef, params, z, f, ids, key=key, deterministic=False)
  b = scoring.score(graphdef, params, z, f, ids, key=key, deterministic=False)
  chex.assert_trees_all_equal(a, b)
  assert np.abs(np.asarray(a[:, 0] - a[:, 1])).max() > 1e-4  # ... other dropout masks
  with pytest.raises(ValueError, match="key"):
    scoring.score(graphdef, params, z, f, ids, deterministic=False)


@pytest.mark.parametrize("per_sample", [False, True])
def test_masked_candidate_never_argmax(per_sample):
  graphdef, params = split()
  params = randomize_residual(params)
  z, f, ids = inputs()
  raw_BxK = scoring.score(graphdef, params, z, f, ids)
  best_B = jnp.argmax(raw_BxK, axis=1)
  if per_sample:  # mask each sample's own best candidate
    mask = jnp.arange(K)[None, :] != best_B[:, None]
  else:  # mask the most frequent best candidate
    top = int(np.bincount(np.asarray(best_B), minlength=K).argmax())
    mask = jnp.arange(K) != top
  q_BxK = scoring.make_scorer(graphdef)(params, z, f, ids, mask)
  mask_BxK = jnp.broadcast_to(mask, (B, K))
  assert not bool(jnp.any(mask_BxK[jnp.arange(B), jnp.argmax(q_BxK, axis=1)] == False))  # noqa: E712
  np.testing.assert_array_equal(np.asarray(q_BxK)[~np.asarray(mask_BxK)], -np.inf)
  np.testing.assert_array_equal(np.asarray(q_BxK)[np.asarray(mask_BxK)],
                                np.asarray(raw_BxK)[np.asarray(mask_BxK)])
  probs = jax.nn.softmax(q_BxK, axis=1)
  np.testing.assert_array_equal(np.asarray(probs)[~np.asarray(mask_BxK)], 0.0)


@pytest.mark.parametrize("deterministic", [True, False])
@pytest.mark.parametrize("pad_id", [3, -1])
@pytest.mark.parametrize("fresh", [False, True])
def test_padded_candidate_gets_zero_gradient(deterministic, pad_id, fresh):
  """Slot 3 is padding (its id either a table row no live slot uses, or -1).

  fresh=False: random residuals, no L2 term -> the data term alone gives it zero
  gradient. fresh=True: the zero-initialised table with the default L2 coefficient
  -> the full loss gives it zero gradient (an unused row never moves off zero).
  """
  graphdef, params = split()
  coef = 1e-4 if fresh else 0.0
  if not fresh:
    params = randomize_residual(params)
  z, f, _ = inputs()
  ids = jnp.array([0, 1, 2, pad_id])
  action_B = jnp.array([0, 1, 2, 2, 1, 0, 0])
  batch = {"z_hist_BxD": z, "action_B": action_B,
           "target_B": jnp.linspace(-1.0, 1.0, B), "weight_B": jnp.full((B,), 6.0)}
  grad_fn = jax.grad(scoring.mse_loss, argnums=(0, 3), has_aux=True)
  (g_params, g_feats), _ = grad_fn(params, graphdef, batch, f, ids, residual_l2_coef=coef,
                                   key=jax.random.key(0), deterministic=deterministic)
  g_res = np.asarray(g_params["model_encoder"]["residual"][...])
  np.testing.assert_array_equal(g_res[3], 0.0)
  np.testing.assert_array_equal(np.asarray(g_feats)[3], 0.0)
  # The live slots do get gradient (so the test can fail).
  assert np.all(np.abs(g_res[:3]).max(axis=1) > 0)
  assert np.all(np.abs(np.asarray(g_feats)[:3]).max(axis=1) > 0)

  # Through the full masked score matrix too.
  mask_K = jnp.array([True, True, True, False])

  def masked_sum(params, f):
    q = scoring.score(graphdef, params, z, f, ids, mask_K, key=jax.random.key(0),
                      deterministic=deterministic)
    return jnp.sum(jnp.where(mask_K[None, :], q, 0.0))

  g_params, g_feats = jax.grad(masked_sum, argnums=(0, 1))(params, f)
  np.testing.assert_array_equal(g_params["model_encoder"]["residual"][...][3], 0.0)
  np.testing.assert_array_equal(np.asarray(g_feats)[3], 0.0)
  assert np.all(np.abs(np.asarray(g_feats)[:3]).max(axis=1) > 0)
  chex.assert_tree_all_finite(g_params)


def test_loss_weights_and_padded_rows():
  graphdef, params = split()
  params = randomize_residual(params)
  z, f, ids = inputs()
  action_B = jnp.array([0, 3, 1, 1, 2, 0, 3])
  target_B = jnp.linspace(-1.0, 1.0, B)
  weight_B = jnp.array([1.0, 2.0, 6.0, 6.0, 1.5, 12.0, 1.0])
  pred = np.asarray(scoring.chosen_scores(graphdef, params, z, f, ids, action_B))
  err2 = (pred - np.asarray(target_B)) ** 2
  l2 = float(np.sum(np.asarray(params["model_encoder"]["residual"][...]) ** 2))
  batch = {"z_hist_BxD": z, "action_B": action_B, "target_B": target_B,
           "weight_B": weight_B}
  w = np.asarray(weight_B)
  loss, aux = scoring.mse_loss(params, graphdef, batch, f, ids, residual_l2_coef=0.1)
  np.testing.assert_allclose(aux["mse"], np.sum(w * err2) / np.sum(w), rtol=1e-5)
  np.testing.assert_allclose(aux["residual_l2"], l2, rtol=1e-5)
  np.testing.assert_allclose(loss, np.sum(w * err2) / np.sum(w) + 0.1 * l2, rtol=1e-5)
  _, aux = scoring.mse_loss(params, graphdef, batch, f, ids, normalize="count")
  np.testing.assert_allclose(aux["mse"], np.mean(w * err2), rtol=1e-5)
  unweighted = {k: v for k, v in batch.items() if k != "weight_B"}
  _, aux = scoring.mse_loss(params, graphdef, unweighted, f, ids)
  np.testing.assert_allclose(aux["mse"], np.mean(err2), rtol=1e-5)

  # Padded rows (mask_B False) with garbage targets change nothing.
  pad = 3
  padded = {"z_hist_BxD": jnp.concatenate([z, jnp.zeros((pad, D))]),
            "action_B": jnp.concatenate([action_B, jnp.zeros((pad,), jnp.int32)]),
            "target_B": jnp.concatenate([target_B, jnp.full((pad,), jnp.nan)]),
            "weight_B": jnp.concatenate([weight_B, jnp.full((pad,), 5.0)]),
            "mask_B": jnp.arange(B + pad) < B}
  for normalize in ("weight", "count"):
    want, _ = scoring.mse_loss(params, graphdef, batch, f, ids, normalize=normalize)
    got, _ = scoring.mse_loss(params, graphdef, padded, f, ids, normalize=normalize)
    chex.assert_trees_all_close(got, want, atol=1e-6)
  grads, _ = jax.grad(scoring.mse_loss, has_aux=True)(params, graphdef, padded, f, ids)
  chex.assert_tree_all_finite(grads)
  with pytest.raises(ValueError, match="normalize"):
    scoring.mse_loss(params, graphdef, batch, f, ids, normalize="sum")


def test_scorer_does_not_retrace(monkeypatch):
  monkeypatch.setattr(scoring, "score", chex.assert_max_traces(scoring.score, n=1))
  graphdef, params = split()
  scorer = scoring.make_scorer(graphdef)
  for seed in range(3):
    z, f, ids = inputs(seed)
    params = randomize_residual(params, seed)
    q = scorer(params, z, f, ids, jnp.array([True, True, False, True]))
    chex.assert_shape(q, (B, K))
  # Different shapes may trace again (here: they must, or the counter is broken).
  with pytest.raises(AssertionError):
    scorer(params, z[:3], f, ids, jnp.array([True, True, False, True]))


def test_jitted_loss_does_not_retrace():
  graphdef, params = split()
  loss_fn = jax.jit(chex.assert_max_traces(scoring.mse_loss, n=1), static_argnums=1)
  for seed in range(3):
    z, f, ids = inputs(seed)
    batch = {"z_hist_BxD": z, "action_B": jnp.full((B,), seed, jnp.int32),
             "target_B": jnp.zeros((B,)), "weight_B": jnp.ones((B,))}
    loss, _ = loss_fn(params, graphdef, batch, f, ids)
    chex.assert_shape(loss, ())


def test_score_with_sharded_batch():
  graphdef, params = split()
  z, f, ids = inputs()
  z = jnp.concatenate([z, z[:1]])  # 8 rows, divisible by 4 devices
  mesh = Mesh(np.array(jax.devices()[:4]), ("data",))
  z_sharded = jax.device_put(z, NamedSharding(mesh, P("data")))
  scorer = scoring.make_scorer(graphdef)
  chex.assert_trees_all_close(scorer(params, z_sharded, f, ids), scorer(params, z, f, ids),
                              atol=1e-5)


def test_paper_pool_end_to_end():
  pool = load_pool("paper6")
  stats = features.FeatureStats.fit(list(pool))
  f = features.model_features([m.metadata() for m in pool], stats)
  ids = features.model_ids(pool.names, pool.names[:4])  # two unseen models
  graphdef, params = split(num_known_models=4)
  q = scoring.make_scorer(graphdef)(params, jnp.ones((2, D)), f, ids)
  chex.assert_shape(q, (2, len(pool)))
  chex.assert_tree_all_finite(q)


def test_loss_decreases_with_adamw():
  graphdef, params = split(hist_dim=4, num_known_models=3, q_widths=(32, 32))
  key_z, key_f = jax.random.split(jax.random.key(0))
  n = 64
  z = jax.random.normal(key_z, (n, 4))
  f = jax.random.normal(key_f, (3, 8))
  ids = jnp.arange(3, dtype=jnp.int32)
  action = jnp.arange(n, dtype=jnp.int32) % 3
  target = jnp.tanh(z[:, 0] * (action.astype(jnp.float32) - 1.0)) + 0.3 * z[:, 1]
  batch = {"z_hist_BxD": z, "action_B": action, "target_B": target,
           "weight_B": jnp.full((n,), 3.0)}
  tx = optax.adamw(3e-3, weight_decay=0.01)
  opt_state = tx.init(params)

  def step(carry, i):
    params, opt_state = carry
    grads, _ = jax.grad(scoring.mse_loss, has_aux=True)(
        params, graphdef, batch, f, ids, key=jax.random.fold_in(jax.random.key(1), i),
        deterministic=False)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  @jax.jit
  def train(params, opt_state):  # many steps per dispatch
    return jax.lax.scan(step, (params, opt_state), jnp.arange(150))[0][0]

  def eval_loss(params):
    return float(scoring.mse_loss(params, graphdef, batch, f, ids)[0])

  before = eval_loss(params)
  params = train(params, opt_state)
  after = eval_loss(params)
  assert after < 0.3 * before, (before, after)
  assert float(scoring.residual_l2(params)) > 0  # residuals moved off zero
