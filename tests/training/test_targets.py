"""Targets: score normalisation, error rules, annealed error cost (checked against
arithmetic written out by hand), y_t, and the cost scale from training episodes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtr_jax.pool import load_pool
from mtr_jax.training import (ErrorRule, TrainingDataError, aec_weight,
                              annealed_error_costs, build_samples,
                              default_error_rules, error_severities,
                              mean_episode_cost, normalised_score, step_targets)
from mtr_jax.trajectories import trajectory_from_dict

from trajectory_builders import ERR, episode  # noqa: E402


@pytest.fixture(scope="module")
def pool():
  return load_pool("paper6")


def four_steps() -> dict:
  """S = 50 -> S_norm = 0.75; costs 0.001..0.004 (total 0.01); the observation
  after step 1 is the parser error."""
  return episode([
      ("openai/gpt-oss-120b", 0.001, "<observation>\nThe door is open.\n</observation>"),
      ("google/gemini-2.5-flash-lite", 0.002, ERR),
      ("openai/gpt-5", 0.003, "<observation>\nYou see a stove.\n</observation>"),
      ("deepseek/deepseek-v3.2", 0.004, None),
  ], score=50.0)


# ---------------------------------------------------------------------------
# Scores.


def test_normalised_score():
  assert normalised_score(-100, "scienceworld") == 0.0
  assert normalised_score(0, "twx") == 0.5
  assert normalised_score(50.0, "toy") == 0.75
  assert normalised_score(100, "some_new_env") == 1.0
  assert normalised_score(1, "qa") == 1.0
  assert normalised_score(0.0, "hle") == 0.0


@pytest.mark.parametrize("score,bench", [(100.5, "scienceworld"), (-101, "toy"),
                                         (1.5, "qa"), (-0.1, "hle"),
                                         (math.nan, "scienceworld"), (True, "qa")])
def test_normalised_score_out_of_range(score, bench):
  with pytest.raises(ValueError, match="final_score"):
    normalised_score(score, bench)


# ---------------------------------------------------------------------------
# Error rules.


def test_error_rules():
  assert default_error_rules("scienceworld") == default_error_rules("toy") \
      == default_error_rules("other_env")
  assert default_error_rules("scienceworld")[0].severity == "high"
  twx = default_error_rules("twx")
  assert error_severities(["Unknown action: I'm not sure what you mean.", ERR,
                           "Your reply had no action. Reply with one action."],
                          twx).tolist() == [1.0, 0.0, 0.8]
  assert error_severities(["Your reply had no action."],
                          default_error_rules("scienceworld")).tolist() == [0.8]
  assert default_error_rules("qa") == () and default_error_rules("hle") == ()
  rules = [ErrorRule("No known action matches that input.", "high"),
           ErrorRule("nothing happens", "low", ignore_case=True),
           ErrorRule(r"cannot \w+ that", "medium", regex=True)]
  sev = error_severities([ERR, "Nothing happens.", "You cannot open that.", None,
                          "The door is open."], rules)
  np.testing.assert_array_equal(sev, [1.0, 0.2, 0.8, 0.0, 0.0])
  with pytest.raises(ValueError, match="severity"):
    ErrorRule("x", "critical")
  with pytest.raises(ValueError, match="pattern"):
    ErrorRule("")


# ---------------------------------------------------------------------------
# Annealed error cost.


def test_aec_weight_ramp():
  # w = 0.3 up to p = 0.3, then 0.3 + 0.7 * (p - 0.3) / 0.4, 1.0 from p = 0.7.
  assert aec_weight(0.2) == pytest.approx(0.3)
  assert aec_weight(0.5) == pytest.approx(0.3 + 0.7 * 0.2 / 0.4)  # 0.65
  assert aec_weight(0.8) == pytest.approx(1.0)
  np.testing.assert_allclose(aec_weight(np.array([0.0, 0.3, 0.7, 1.0])),
                             [0.3, 0.3, 1.0, 1.0])


def test_annealed_error_costs_ramp_points():
  # N = 10, base = 0.1; errors at i = 1, 4, 7 -> p = 0.2, 0.5, 0.8.
  has_error = np.zeros(12, bool)
  has_error[[1, 4, 7, 11]] = True
  rho = annealed_error_costs(has_error, expected_steps=10)
  expected = np.zeros(12)
  expected[1] = 0.1 * 1.0 * 0.3    # p = 0.2: w = 0.3
  expected[4] = 0.1 * 1.0 * 0.65   # p = 0.5: w = 0.65
  expected[7] = 0.1 * 1.0 * 1.0    # p = 0.8: w = 1.0
  expected[11] = 0.1               # p = min(12/10, 1) = 1: w = 1.0
  np.testing.assert_allclose(rho, expected)


def test_annealed_error_costs_severity_and_floor():
  # N = 4, base = 0.25.
  # i = 0 low:    p = 0.25, w = 0.3:  0.25*0.2*0.3 = 0.015 < floor 0.2*0.25 = 0.05
  # i = 1 medium: p = 0.5,  w = 0.65: 0.25*0.8*0.65 = 0.13
  # i = 2 high:   p = 0.75, w = 1.0:  0.25*1.0*1.0 = 0.25
  rho = annealed_error_costs([True, True, True, False], expected_steps=4,
                             severities=["low", "medium", "high", "high"])
  np.testing.assert_allclose(rho, [0.05, 0.13, 0.25, 0.0])
  # Default N = 27, high, error at i = 1: p = 2/27 -> w = 0.3; rho = 0.3/27.
  np.testing.assert_allclose(annealed_error_costs([False, True]), [0.0, 0.3 / 27])
  with pytest.raises(ValueError, match="expected_steps"):
    annealed_error_costs([True], expected_steps=0)
  with pytest.raises(ValueError, match="severities"):
    annealed_error_costs([True, False], severities=[1.0])


def test_step_targets_formula():
  # y_t = 0.75 - sum_{i>=t} rho_i - 2 * sum_{i>=t} c_i / 0.5
  y = step_targets(0.75, [0.1, 0.2, 0.3], [0.0, 0.05, 0.0], lam=2.0, cost_scale=0.5)
  np.testing.assert_allclose(y, [0.75 - 0.05 - 2 * 0.6 / 0.5,
                                 0.75 - 0.05 - 2 * 0.5 / 0.5,
                                 0.75 - 0.0 - 2 * 0.3 / 0.5])
  with pytest.raises(ValueError, match="cost_scale"):
    step_targets(0.5, [0.1], [0.0], lam=1.0, cost_scale=0.0)
  with pytest.raises(ValueError, match="shapes"):
    step_targets(0.5, [0.1, 0.2], [0.0], lam=1.0, cost_scale=1.0)


# ---------------------------------------------------------------------------
# Targets of a whole episode, by hand.

# S_norm = (50 + 100) / 200 = 0.75. Cost scale = mean episode cost = 0.01.
# Remaining cost / scale: [0.010, 0.009, 0.007, 0.004] / 0.01 = [1.0, 0.9, 0.7, 0.4].
# Step 1 is an error: base = 1/27, p = 2/27 <= 0.3 -> w = 0.3, m = 1 (high):
# rho_1 = max(0.3/27, 0.2/27) = 0.3/27; remaining error cost [0.3/27, 0.3/27, 0, 0].
RHO1 = max((1 / 27) * 1.0 * 0.3, 0.2 * (1 / 27))
HAND = {
    (True, 1.0): [0.75 - RHO1 - 1.0, 0.75 - RHO1 - 0.9, 0.75 - 0.7, 0.75 - 0.4],
    (True, 0.0): [0.75 - RHO1, 0.75 - RHO1, 0.75, 0.75],
    (False, 1.0): [0.75 - 1.0, 0.75 - 0.9, 0.75 - 0.7, 0.75 - 0.4],
    (False, 0.0): [0.75, 0.75, 0.75, 0.75],
}


@pytest.mark.parametrize("aec,lam", sorted(HAND))
def test_episode_targets_by_hand(pool, aec, lam):
  traj = trajectory_from_dict(four_steps())
  s = build_samples([traj], pool, lam=lam, aec=aec)
  assert s.cost_scale == {"scienceworld": pytest.approx(0.01)}
  np.testing.assert_allclose(s.target, HAND[(aec, lam)], rtol=0, atol=1e-6)
  assert s.target.dtype == np.float32
  np.testing.assert_array_equal(s.has_error, [False, True, False, False])
  np.testing.assert_allclose(s.remaining_cost, [1.0, 0.9, 0.7, 0.4], atol=1e-6)
  np.testing.assert_allclose(s.error_cost, [RHO1, RHO1, 0, 0] if aec else 0, atol=1e-7)
  # The same with an explicit cost scale of 0.02: cost terms halve.
  s2 = build_samples([traj], pool, lam=lam, aec=aec, cost_scale={"scienceworld": 0.02})
  half = np.asarray(HAND[(aec, 0.0)]) - lam * np.array([1.0, 0.9, 0.7, 0.4]) / 2
  np.testing.assert_allclose(s2.target, half, atol=1e-6)


def test_episode_targets_custom_rules_and_expected_steps(pool):
  # N = 4: the error after step 1 has p = 0.5 -> w = 0.65; rule severity medium:
  # rho_1 = 0.25 * 0.8 * 0.65 = 0.13.
  traj = trajectory_from_dict(four_steps())
  rules = {"scienceworld": [ErrorRule("No known action", "medium")]}
  s = build_samples([traj], pool, lam=0.0, expected_steps=4, error_rules=rules)
  np.testing.assert_allclose(s.target, [0.75 - 0.13, 0.75 - 0.13, 0.75, 0.75], atol=1e-6)
  # expected_steps as a function of the trajectory.
  s = build_samples([traj], pool, lam=0.0, expected_steps=lambda t: 4, error_rules=rules)
  np.testing.assert_allclose(s.target, [0.62, 0.62, 0.75, 0.75], atol=1e-6)
  # No rules: no error cost.
  s = build_samples([traj], pool, lam=0.0, error_rules={"scienceworld": []})
  np.testing.assert_allclose(s.target, 0.75)


def test_qa_episode_has_no_error_rules(pool):
  traj = trajectory_from_dict(episode([("openai/gpt-5", 0.02, ERR),
                                       ("openai/gpt-5", 0.02, None)],
                                      score=1, benchmark="qa"))
  s = build_samples([traj], pool, lam=1.0)
  # S_norm = 1; remaining cost / mean (0.04): [1.0, 0.5].
  np.testing.assert_allclose(s.target, [1 - 1.0, 1 - 0.5], atol=1e-6)
  assert not s.has_error.any()


# ---------------------------------------------------------------------------
# Cost scale.


def test_cost_scale_from_training_episodes_only(pool):
  train = [trajectory_from_dict(episode([("openai/gpt-5", c, None)], 0.0,
                                        task_id=f"a{i}"))
           for i, c in enumerate([0.01, 0.03])]
  train.append(trajectory_from_dict(episode([("openai/gpt-5", 0.5, None)], 1,
                                            benchmark="qa", task_id="q0")))
  test = [trajectory_from_dict(episode([("openai/gpt-5", 1.0, None)], 0.0,
                                       task_id="t0"))]
  scale = mean_episode_cost(train)
  assert scale == {"scienceworld": pytest.approx(0.02), "qa": pytest.approx(0.5)}
  s_test = build_samples(test, pool, lam=1.0, cost_scale=scale)
  # S_norm 0.5, cost 1.0 / train scale 0.02 = 50 (not 1.0 / its own mean = 1).
  np.testing.assert_allclose(s_test.target, [0.5 - 1.0 / 0.02], rtol=1e-6)
  assert s_test.cost_scale == scale
  s_train = build_samples(train, pool, lam=1.0)
  assert s_train.cost_scale == scale
  np.testing.assert_allclose(s_train.target,
                             [0.5 - 0.5, 0.5 - 1.5, 1.0 - 1.0], atol=1e-6)


def test_cost_scale_errors(pool, tmp_path):
  with pytest.raises(TrainingDataError, match="no episodes"):
    mean_episode_cost([])
  free = trajectory_from_dict(episode([("openai/gpt-5", 0.0, None)], 0.0),
                              source="free.traj.json", path=tmp_path / "free.traj.json")
  with pytest.raises(TrainingDataError, match="free.traj.json: total_cost"):
    mean_episode_cost([free])
  traj = trajectory_from_dict(four_steps(), path=tmp_path / "x.traj.json")
  with pytest.raises(TrainingDataError,
                     match=r"x\.traj\.json: info\.benchmark: no cost scale"):
    build_samples([traj], pool, cost_scale={"qa": 1.0})
  with pytest.raises(TrainingDataError, match="cost_scale"):
    build_samples([traj], pool, cost_scale={"scienceworld": 0.0})
