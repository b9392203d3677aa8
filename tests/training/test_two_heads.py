"""Two-head estimator (outcome, remaining cost): targets, scoring, training."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from mtr_jax.estimator.model import Estimator, EstimatorConfig
from mtr_jax.estimator.scoring import combine_heads, make_scorer, mse_loss, score
from mtr_jax.pool import load_pool
from mtr_jax.pool.pool import ModelSpec
from mtr_jax.training import build_samples
from mtr_jax.training.dataset import two_head_targets
from mtr_jax.training.train import TrainData, default_train_config, train
from mtr_jax.trajectories import trajectory_from_dict

from trajectory_builders import ERR, OK, episode  # noqa: E402

D, K = 8, 3


def test_heads_must_be_one_or_two():
  with pytest.raises(ValueError, match="heads"):
    EstimatorConfig(heads=3)


@pytest.mark.parametrize("lam", [0.0, 0.7, 3.0])
def test_two_head_targets_recombine_to_the_scalar_target(lam):
  pool = load_pool("paper6")
  trajs = [trajectory_from_dict(episode(
      [("openai/gpt-5", 0.02, ERR), ("openai/gpt-oss-120b", 0.001, OK),
       ("google/gemini-2.5-flash-lite", 0.003, OK)], score=40.0, task_id=f"boil_var{i}_run0"),
      f"ep{i}.traj.json") for i in range(2)]
  samples = build_samples(trajs, pool, lam=lam)
  t = two_head_targets(samples)
  assert t.shape == (len(samples), 2)
  np.testing.assert_allclose(t[:, 0] - lam * t[:, 1], samples.target, atol=1e-6)
  assert np.all(t[:, 1] > 0)  # remaining cost is positive on every step here
  assert t[0, 0] < t[-1, 0]   # the error's annealed cost lowers the early outcome


def _two_head_model(seed=0):
  config = EstimatorConfig(hist_dim=D, num_known_models=K, meta_widths=(8,),
                           residual_dim=4, model_dim=8, q_widths=(16,), heads=2)
  return nnx.split(Estimator(config, rngs=nnx.Rngs(seed)))


def test_score_combines_the_heads_and_lambda_does_not_recompile():
  graphdef, params = _two_head_model()
  rng = np.random.default_rng(0)
  z = rng.normal(size=(4, D)).astype(np.float32)
  feats = rng.normal(size=(K, 8)).astype(np.float32)
  ids = np.arange(K, dtype=np.int32)
  model = nnx.merge(graphdef, params)
  z_m = model.model_encoder(feats, ids)
  raw = jnp.stack([model.q_network(z, z_m[k][None, :]) for k in range(K)], axis=1)
  chex.assert_shape(raw, (4, K, 2))
  traced = chex.assert_max_traces(
      lambda p, z, f, i, lam: score(graphdef, p, z, f, i, lam=lam), n=1)
  scorer = jax.jit(traced)
  for lam in (0.0, 0.5, 2.0):
    q = scorer(params, z, feats, ids, jnp.float32(lam))
    np.testing.assert_allclose(make_scorer(graphdef)(params, z, feats, ids, lam=lam), q,
                               atol=1e-6)
    np.testing.assert_allclose(q, raw[..., 0] - lam * raw[..., 1], atol=1e-5)
  with pytest.raises(ValueError, match="needs lam"):
    combine_heads(raw, 2, None)


def test_loss_sums_both_heads():
  graphdef, params = _two_head_model()
  rng = np.random.default_rng(1)
  batch = {"z_hist_BxD": rng.normal(size=(5, D)).astype(np.float32),
           "action_B": np.array([0, 1, 2, 0, 1], np.int32),
           "target_B": rng.normal(size=(5, 2)).astype(np.float32)}
  feats = rng.normal(size=(K, 8)).astype(np.float32)
  ids = np.arange(K, dtype=np.int32)
  loss, aux = mse_loss(params, graphdef, batch, feats, ids, residual_l2_coef=0.0)
  model = nnx.merge(graphdef, params)
  z_m = model.model_encoder(feats, ids)[batch["action_B"]]
  pred = model.q_network(batch["z_hist_BxD"], z_m)
  want = np.mean(np.sum((np.asarray(pred) - batch["target_B"]) ** 2, axis=1))
  np.testing.assert_allclose(aux["mse"], want, rtol=1e-5)
  with pytest.raises(ValueError, match="differ in shape"):
    mse_loss(params, graphdef, {**batch, "target_B": batch["target_B"][:, 0]}, feats, ids)


def _data(heads):
  """Outcome depends on (z, model); the remaining cost on the model alone."""
  rng = np.random.default_rng(0)
  n = 600
  z = rng.normal(size=(n, D)).astype(np.float32)
  action = rng.integers(0, K, n)
  w = rng.normal(size=(K, D)) / np.sqrt(D)
  outcome = np.tanh(np.einsum("nd,nd->n", z, w[action]))
  cost = 0.5 + action.astype(np.float64)
  target = np.stack([outcome, cost], 1) if heads == 2 else outcome - cost
  pool = [ModelSpec(f"m{i}", input_price=0.1 * (i + 1), output_price=0.5 * (i + 1))
          for i in range(K)]
  return TrainData.build(z, action, target.astype(np.float32), np.arange(n) // 10,
                         pool=pool, encoder_fingerprint={"name": "fake", "dim": D}, lam=1.0)


def _config(heads):
  c = default_train_config()
  c.model.meta_widths, c.model.residual_dim, c.model.model_dim = (8,), 4, 8
  c.model.q_widths, c.model.heads = (32,), heads
  c.optim.epochs, c.optim.lr = 15, 3e-3
  return c


def test_two_head_training_learns_both_heads(tmp_path):
  data = _data(2)
  result = train(_config(2), data, tmp_path / "two", progress=False)
  assert result.best_val_loss < 0.25 * result.initial_val_loss
  graphdef, _ = nnx.split(nnx.eval_shape(
      lambda: Estimator(EstimatorConfig.from_dict(
          {**_config(2).model.to_dict(), "hist_dim": D, "num_known_models": K}),
          rngs=nnx.Rngs(0))))
  model = nnx.merge(graphdef, result.params)
  z_m = model.model_encoder(jnp.asarray(data.feats_Kx8), jnp.asarray(data.model_ids_K))
  cost_K = [float(jnp.mean(model.q_network(data.z_hist_NxD[:50], z_m[k][None, :])[:, 1]))
            for k in range(K)]
  np.testing.assert_allclose(cost_K, [0.5, 1.5, 2.5], atol=0.2)


def test_heads_must_match_the_targets(tmp_path):
  with pytest.raises(ValueError, match="heads is 2 but the data has scalar"):
    train(_config(2), _data(1), tmp_path / "a", progress=False)
  with pytest.raises(ValueError, match="heads is 1 but the data has two-column"):
    train(_config(1), _data(2), tmp_path / "b", progress=False)
  with pytest.raises(ValueError, match=r"target_N: expected shape"):
    d = _data(1)
    TrainData.build(d.z_hist_NxD, d.action_N, np.zeros((len(d.action_N), 3)), d.episode_N,
                    pool=list(d.pool), encoder_fingerprint={"name": "x"}, lam=1.0)
