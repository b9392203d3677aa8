"""The learned router: scores, policies, budget masks, unseen models, checkpoints."""

import dataclasses
import hashlib

import numpy as np
import pytest
from flax import nnx

from mtr_jax.envs.base import TaskRef
from mtr_jax.estimator.features import FeatureStats
from mtr_jax.estimator.model import Estimator, EstimatorConfig
from mtr_jax.pool import Pool, load_pool
from mtr_jax.rollout.collect import RouterSpec, collect
from mtr_jax.routing.learned import LearnedRouter
from mtr_jax.routing.policies import Policy

DIM = 8


from hash_encoder import DIM, HashEncoder  # noqa: E402,F401


MESSAGES = [{"role": "system", "content": "You are an agent."},
            {"role": "user", "content": "<task_description>\nYour task is to boil water."
                                        "\n</task_description>\n\n<initial_observation>\n"
                                        "A kitchen.\n</initial_observation>"}]


@pytest.fixture(scope="module")
def pool():
  return load_pool("paper6")


def _router(pool, policy=Policy(), known=None, **kw):
  config = EstimatorConfig(hist_dim=DIM, num_known_models=len(known or pool.names))
  graphdef, params = nnx.split(Estimator(config, rngs=nnx.Rngs(0)))
  return LearnedRouter(graphdef, params, feature_stats=FeatureStats.fit(list(pool)),
                       known_models=list(known or pool.names), encoder=HashEncoder(),
                       policy=policy, **kw)


def test_greedy_picks_the_argmax_and_logs_scores(pool):
  router = _router(pool)
  router.reset(0)
  d = router.select(MESSAGES, pool, 0.0, 2.0)
  scores = d.info["scores"]
  assert set(scores) == set(pool.names)
  assert d.model == max(scores, key=scores.get) == d.info["greedy_model"]
  assert d.propensity == 1.0


@pytest.mark.parametrize("policy", [Policy("epsilon", epsilon=0.3), Policy("softmax"),
                                    Policy("mixed", beta=0.5)])
def test_propensity_is_the_policy_probability(pool, policy):
  router = _router(pool, policy)
  router.reset(1)
  view = router._view(pool)
  mask, _ = router.candidate_mask(view, 50, 0.0, 2.0)
  probs = policy.probabilities(router.scores(router.embed(MESSAGES), view, mask))
  for _ in range(20):
    d = router.select(MESSAGES, pool, 0.0, 2.0)
    assert d.propensity == pytest.approx(probs[pool.names.index(d.model)], abs=1e-9)


def test_budget_masks_models_that_cannot_be_afforded(pool):
  router = _router(pool, typical_completion={m: 1500 for m in pool.names})
  # GPT-5: 1500 x $10/M = $0.015 per call; the others far less.
  d = router.select(MESSAGES, pool, spent=1.99, budget=2.0)
  assert "openai/gpt-5" in d.info["masked"]
  assert d.model != "openai/gpt-5"
  assert d.info["scores"]["openai/gpt-5"] is None
  # nothing affordable: the cheapest candidate is kept
  d = router.select(MESSAGES, pool, spent=2.5, budget=2.0)
  assert d.model == "openai/gpt-oss-120b"  # $0.09/$0.36 per M: the cheapest
  # switched off: nothing is masked
  free = _router(pool, budget_aware=False)
  assert "masked" not in free.select(MESSAGES, pool, spent=2.5, budget=2.0).info


def test_context_window_masks_small_models(pool):
  small = dataclasses.replace(pool["openai/gpt-oss-120b"], max_input_tokens=10)
  p = Pool("p", (small, pool["openai/gpt-5"]))
  router = _router(p)
  d = router.select(MESSAGES, p, 0.0, 2.0)
  assert d.model == "openai/gpt-5" and d.info["masked"] == ["openai/gpt-oss-120b"]


def test_unseen_model_is_scored_from_metadata_with_a_warning(pool):
  router = _router(pool, known=list(pool.names[:5]))
  with pytest.warns(UserWarning, match="openai/gpt-oss-120b.*metadata alone"):
    d = router.select(MESSAGES, pool, 0.0, 2.0)
  assert np.isfinite(d.info["scores"]["openai/gpt-oss-120b"])


def test_same_episode_seed_same_choices(pool):
  router = _router(pool, Policy("softmax", temperature=0.01))
  picks = []
  for _ in range(2):
    router.reset(5)
    picks.append([router.select(MESSAGES, pool, 0.0, 2.0).model for _ in range(10)])
  assert picks[0] == picks[1]


@pytest.mark.slow
def test_trained_router_end_to_end_on_toy_env(tmp_path, pool):
  """Collect roulette -> train with the real MiniLM encoder -> route held-out episodes;
  `mtr-jax route` prints every model's score."""
  from mtr_jax.configs import load_config
  from mtr_jax.routing.inspect import route_report
  from mtr_jax.training.dataset import train_from_config
  env = "mtr_jax.envs.toy:ToyEnv"
  train_refs = [TaskRef(t, v) for t in ("fetch", "plant") for v in range(5)]
  test_refs = [TaskRef(t, v) for t in ("fetch", "plant") for v in range(5, 10)]
  collect(env, train_refs, mode="roulette", runs=6, out=tmp_path / "tr", progress=False)
  cfg = load_config("experiments/configs/train.py:quick",
                    [f"--config.data.folders=[{tmp_path / 'tr'}]",
                     f"--config.data.cache_dir={tmp_path / 'cache'}",
                     "--config.train.val_fraction=0.2"])
  result = train_from_config(cfg, tmp_path / "est", progress=False)
  assert result.best_val_loss < result.initial_val_loss
  spec = RouterSpec(mode="learned", checkpoint=str(tmp_path / "est"))
  learned = collect(env, test_refs, mode="learned", runs=2, out=tmp_path / "l", router=spec,
                    progress=False)
  assert learned["failed"] == 0 and learned["router"]["checkpoint"] == str(tmp_path / "est")
  files = sorted((tmp_path / "l").rglob("*.traj.json"))
  report = route_report(str(tmp_path / "est"), str(files[0]), step=0)
  for name in pool.names:
    assert name in report
  mixed = collect(env, test_refs[:2], mode="mixed", runs=1, out=tmp_path / "m",
                  router=dataclasses.replace(spec, mode="mixed", beta=0.5), progress=False)
  assert mixed["failed"] == 0
