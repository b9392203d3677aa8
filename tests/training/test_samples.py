"""Samples from trajectories: states and actions, skipped steps, IPW weights,
subsets, and the validation split grouped by episode."""

from __future__ import annotations

import numpy as np
import pytest

from mtr_jax.pool import load_pool
from mtr_jax.training import Samples, build_samples, split_by_episode
from mtr_jax.trajectories import trajectory_from_dict

from trajectory_builders import ERR, OK, call, episode  # noqa: E402


@pytest.fixture(scope="module")
def pool():
  return load_pool("paper6")


def test_states_actions_and_metadata(pool):
  d = episode([("openai/gpt-oss-120b", 0.001, OK, {"propensity": 1 / 6}),
               ("gpt-5", 0.002, ERR),  # no provider prefix: resolves to openai/gpt-5
               ("moonshotai/kimi-k2-0905", 0.003, None)], score=0.0)
  traj = trajectory_from_dict(d)
  s = build_samples([traj], pool)
  assert isinstance(s, Samples) and len(s) == 3
  assert s.pool_names == pool.names
  np.testing.assert_array_equal(s.action, [pool.index("openai/gpt-oss-120b"),
                                           pool.index("openai/gpt-5"),
                                           pool.index("moonshotai/kimi-k2-0905")])
  assert s.action.dtype == np.int32 and s.episode.dtype == np.int32
  assert s.turn.dtype == np.int32 and s.weight.dtype == np.float32
  # State x_t = every message before the step's assistant message.
  assert s.history == [d["messages"][:2], d["messages"][:4], d["messages"][:6]]
  np.testing.assert_array_equal(s.turn, [0, 1, 2])
  np.testing.assert_array_equal(s.episode, [0, 0, 0])
  np.testing.assert_allclose(s.step_cost, [0.001, 0.002, 0.003])
  np.testing.assert_allclose(s.propensity, [1 / 6, 1.0, 1.0], rtol=1e-6)
  np.testing.assert_allclose(s.score, 0.5)
  assert s.episode_ids == ["boil_var0_run0"]
  assert s.episode_benchmarks == ["scienceworld"]
  assert s.n_skipped == 0 and "3 samples from 1 episodes" in s.report()


def test_out_of_pool_step_skipped_but_its_cost_counts(pool):
  # Costs 0.001, 0.004 (outside the pool), 0.005; total 0.01 = cost scale.
  traj = trajectory_from_dict(episode([
      ("openai/gpt-5", 0.001, OK),
      ("acme/unknown-model", 0.004, OK),
      ("openai/gpt-oss-120b", 0.005, None)], score=100.0))
  s = build_samples([traj], pool, lam=1.0)
  assert len(s) == 2
  assert s.skipped_out_of_pool == {"acme/unknown-model": 1}
  assert s.skipped_failed == 0
  np.testing.assert_array_equal(s.turn, [0, 2])
  # S_norm = 1. y_0 = 1 - (0.001 + 0.004 + 0.005)/0.01 = 0; y_2 = 1 - 0.005/0.01 = 0.5.
  np.testing.assert_allclose(s.target, [1 - 1.0, 1 - 0.5], atol=1e-6)
  assert "1 steps of models outside the pool (acme/unknown-model: 1)" in s.report()


def test_out_of_pool_step_error_cost_counts(pool):
  # The parser error follows the out-of-pool step (i = 1): rho_1 = 0.3/27 is still
  # subtracted from the target of step 0.
  traj = trajectory_from_dict(episode([
      ("openai/gpt-5", 0.001, OK),
      ("acme/unknown-model", 0.001, ERR),
      ("openai/gpt-5", 0.001, None)], score=0.0))
  s = build_samples([traj], pool, lam=0.0)
  np.testing.assert_allclose(s.target, [0.5 - 0.3 / 27, 0.5], atol=1e-6)


def test_failed_call_skipped_but_its_cost_counts(pool):
  traj = trajectory_from_dict(episode([
      ("openai/gpt-5", 0.002, OK),
      ("openai/gpt-5", 0.002, OK, {"error": "timeout after 4 retries"}),
      ("openai/gpt-5", 0.004, None)], score=-100.0))
  s = build_samples([traj], pool, lam=1.0)
  assert len(s) == 2 and s.skipped_failed == 1 and s.skipped_out_of_pool == {}
  # S_norm = 0; scale 0.008: y_0 = -0.008/0.008 = -1; y_2 = -0.004/0.008 = -0.5.
  np.testing.assert_allclose(s.target, [-1.0, -0.5], atol=1e-6)


def test_ipw_weights(pool):
  traj = trajectory_from_dict(episode([
      ("openai/gpt-5", 0.001, OK, {"propensity": 1 / 6}),
      ("openai/gpt-5", 0.001, OK, {"propensity": 0.5}),
      ("openai/gpt-5", 0.001, OK),  # not recorded: 1.0
      ("openai/gpt-5", 0.001, None, {"propensity": 0.125})], score=0.0))
  np.testing.assert_allclose(build_samples([traj], pool).weight, 1.0)
  s = build_samples([traj], pool, ipw=True)
  np.testing.assert_allclose(s.weight, 1 / s.propensity, rtol=1e-6)
  np.testing.assert_allclose(s.weight, [6.0, 2.0, 1.0, 8.0], rtol=1e-6)
  s = build_samples([traj], pool, ipw=True, max_weight=4.0)
  np.testing.assert_allclose(s.weight, [4.0, 2.0, 1.0, 4.0], rtol=1e-6)
  with pytest.raises(ValueError, match="max_weight"):
    build_samples([traj], pool, ipw=True, max_weight=0.5)


def many_episodes(n: int = 20) -> list:
  out = []
  for e in range(n):
    steps = [("openai/gpt-5", 0.001 * (k + 1), OK) for k in range(1 + e % 4)]
    out.append(trajectory_from_dict(episode(steps, score=float(e), task_id=f"ep{e:02d}")))
  return out


def test_split_grouped_by_episode_and_deterministic(pool):
  s = build_samples(many_episodes(), pool)
  train, val = split_by_episode(s, val_fraction=0.1, seed=3)
  assert train.dtype == np.int64 and val.dtype == np.int64
  assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(s)))
  assert not set(s.episode[train]) & set(s.episode[val])
  assert len(set(s.episode[val])) == 2  # round(0.1 * 20)
  again = split_by_episode(s, val_fraction=0.1, seed=3)
  np.testing.assert_array_equal(train, again[0])
  np.testing.assert_array_equal(val, again[1])
  others = {tuple(np.unique(s.episode[split_by_episode(s, 0.1, seed)[1]]))
            for seed in range(10)}
  assert len(others) > 1  # the seed matters
  # Independent of the order the episodes were loaded in.
  s_rev = build_samples(many_episodes()[::-1], pool)
  _, val_rev = split_by_episode(s_rev, val_fraction=0.1, seed=3)
  ids = lambda smp, idx: sorted({smp.episode_ids[e] for e in smp.episode[idx]})
  assert ids(s_rev, val_rev) == ids(s, val)


def test_split_edge_cases(pool):
  s = build_samples(many_episodes(3), pool)
  train, val = split_by_episode(s, val_fraction=0.0)
  assert len(train) == len(s) and len(val) == 0
  train, val = split_by_episode(s, val_fraction=0.01, seed=0)  # at least one episode
  assert len(set(s.episode[val])) == 1 and len(set(s.episode[train])) == 2
  with pytest.raises(ValueError, match="val_fraction"):
    split_by_episode(s, val_fraction=1.0)
  one = build_samples(many_episodes(1), pool)
  with pytest.raises(ValueError, match="at least 2 episodes"):
    split_by_episode(one, val_fraction=0.1)


def test_subset_keeps_alignment(pool):
  s = build_samples(many_episodes(5), pool)
  train, val = split_by_episode(s, val_fraction=0.4, seed=1)
  sub = s.subset(val)
  assert len(sub) == len(val)
  np.testing.assert_array_equal(sub.target, s.target[val])
  np.testing.assert_array_equal(sub.episode, s.episode[val])
  assert sub.history == [s.history[i] for i in val]
  assert sub.episode_ids == s.episode_ids and sub.cost_scale == s.cost_scale
  mask = np.zeros(len(s), bool)
  mask[val] = True
  np.testing.assert_array_equal(s.subset(mask).turn, sub.turn)
