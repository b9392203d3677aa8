"""Routing-time lambda: a two-head checkpoint routes with any lambda, a one-head
checkpoint only with the lambda of its targets."""

import numpy as np
import pytest

from mtr_jax.pool import load_pool
from mtr_jax.rollout.collect import RouterSpec
from mtr_jax.routing.learned import LearnedRouter
from mtr_jax.training.train import TrainData, default_train_config, train

from hash_encoder import DIM, HashEncoder  # noqa: E402

MESSAGES = [{"role": "system", "content": "You are an agent."},
            {"role": "user", "content": "<task_description>\nBoil water.\n"
                                        "</task_description>"}]
GOOD, CHEAP = "openai/gpt-5", "openai/gpt-oss-120b"


def _train(tmp_path, heads):
  """Data where GPT-5 has the best outcome (0.9 vs 0.5) and costs 2.0 against 0.1."""
  pool = load_pool("paper6")
  rng = np.random.default_rng(0)
  n = 1200
  z = rng.normal(size=(n, DIM)).astype(np.float32)
  action = rng.integers(0, len(pool), n)
  outcome = np.where(action == pool.index(GOOD), 0.9, 0.5)
  cost = np.where(action == pool.index(GOOD), 2.0, 0.1)
  outcome = outcome + 0.01 * rng.normal(size=n)
  target = np.stack([outcome, cost], 1) if heads == 2 else outcome - cost
  data = TrainData.build(z, action, target.astype(np.float32), np.arange(n) // 10,
                         pool=list(pool), encoder_fingerprint=HashEncoder.fingerprint,
                         lam=1.0)
  c = default_train_config()
  c.model.heads = heads
  c.model.q_widths = (32,)
  c.optim.epochs, c.optim.lr = 20, 3e-3
  workdir = tmp_path / f"heads{heads}"
  train(c, data, workdir, progress=False)
  return workdir


@pytest.fixture(scope="module")
def two_head(tmp_path_factory):
  return _train(tmp_path_factory.mktemp("two"), 2)


def _pick(checkpoint, lam):
  router = LearnedRouter.from_checkpoint(checkpoint, encoder=HashEncoder(), lam=lam)
  router.reset(0)
  return router.select(MESSAGES, load_pool("paper6"), 0.0, 1e9)


def test_lambda_at_routing_time_moves_the_choice(two_head):
  low = _pick(two_head, 0.0)
  assert low.model == GOOD and low.info["lam"] == 0.0
  high = _pick(two_head, 1.0)  # 0.9 - 2.0 < 0.5 - 0.1 for every cheap model
  assert high.model != GOOD and high.info["lam"] == 1.0
  # default: the training lambda
  default = LearnedRouter.from_checkpoint(two_head, encoder=HashEncoder())
  assert default.lam == 1.0
  # through the collection spec, as `collect --lam` and `eval ...,lam=` build it
  assert RouterSpec(mode="learned", checkpoint=str(two_head), lam=0.0).lam == 0.0


def test_one_head_checkpoint_refuses_another_lambda(tmp_path):
  one = _train(tmp_path, 1)
  assert LearnedRouter.from_checkpoint(one, encoder=HashEncoder(), lam=1.0).lam == 1.0
  with pytest.raises(ValueError, match="one-head estimator was trained with lambda=1"):
    LearnedRouter.from_checkpoint(one, encoder=HashEncoder(), lam=0.5)


def test_bad_lambda(two_head):
  with pytest.raises(ValueError, match="lam must be a finite number"):
    LearnedRouter.from_checkpoint(two_head, encoder=HashEncoder(), lam=float("nan"))


def test_eval_spec_parses_lam():
  from mtr_jax.evaluation.evaluate import parse_router
  choice = parse_router("checkpoint:runs/x,lam=0.25")
  assert choice.spec.lam == 0.25 and choice.spec.checkpoint == "runs/x"
