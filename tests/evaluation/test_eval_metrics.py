"""Evaluation metrics on small hand-checked cases: switch rate, bootstrap
interval, position bins, model shares by step kind / family / position."""

from __future__ import annotations

import numpy as np
import pytest

from mtr_jax.envs.toy import ToyEnv
from mtr_jax.evaluation.metrics import (aggregate_metrics, bootstrap_ci, episode_metrics,
                                        evaluate_trajectories, position_bin,
                                        position_labels, step_kinds, switch_rate)

from eval_builders import make_traj  # noqa: E402


def test_switch_rate_by_hand():
  # [a,a,b,b,a]: switches at t=2 (a->b) and t=4 (b->a): 2 of T-1 = 4 transitions.
  assert switch_rate(["a", "a", "b", "b", "a"]) == 2 / 4
  assert switch_rate(["a", "b"]) == 1.0
  assert switch_rate(["a", "a", "a"]) == 0.0
  assert switch_rate(["a"]) is None and switch_rate([]) is None


def test_mean_switch_rate_excludes_short_episodes():
  rows = [episode_metrics(make_traj(m)) for m in
          (["a", "a", "b", "b", "a"], ["a", "b"], ["a"])]
  sw = aggregate_metrics(rows, n_boot=100)["switch_rate"]
  # (0.5 + 1.0) / 2; the 1-step episode is left out.
  assert sw["mean"] == pytest.approx(0.75)
  assert sw["n"] == 2 and sw["excluded_short"] == 1


def test_bootstrap_interval_constant_and_known_sample():
  assert bootstrap_ci([42.0] * 10) == (42.0, 42.0)
  assert bootstrap_ci([0.1] * 7) == (0.1, 0.1)
  assert bootstrap_ci([]) is None
  # Two values {0, 1}: a resampled mean is 0, 0.5 or 1 with prob. 1/4, 1/2, 1/4,
  # so the 2.5% and 97.5% quantiles are 0 and 1.
  assert bootstrap_ci([0.0, 1.0], n_boot=2000, seed=0) == (0.0, 1.0)
  x = np.arange(10.0)  # mean 4.5, standard error sqrt(8.25/10) ~ 0.91
  lo, hi = bootstrap_ci(x, n_boot=2000, seed=3)
  assert lo < 4.5 < hi
  assert 2.0 < lo < 3.5 and 5.5 < hi < 7.0  # ~ 4.5 -+ 1.96 * 0.91
  assert bootstrap_ci(x, n_boot=2000, seed=3) == (lo, hi)          # deterministic
  assert bootstrap_ci(x[::-1], n_boot=2000, seed=3) == (lo, hi)    # order-free
  assert bootstrap_ci(x, n_boot=2000, seed=4) != (lo, hi)
  with pytest.raises(ValueError, match="finite"):
    bootstrap_ci([1.0, float("nan")])


def test_position_bins_by_hand():
  # T=5, B=5: p = t/4 = 0, .25, .5, .75, 1 -> bins 0,1,2,3,4 (p=1 in the last).
  assert [position_bin(t, 5, 5) for t in range(5)] == [0, 1, 2, 3, 4]
  # T=3: p = 0, .5, 1 -> 0, 2, 4.  T=1: 0.
  assert [position_bin(t, 3, 5) for t in range(3)] == [0, 2, 4]
  assert position_bin(0, 1, 5) == 0
  # T=11, B=5: p = t/10; t=2 -> p=0.2 exactly -> bin 1 (integer arithmetic).
  assert position_bin(2, 11, 5) == 1 and position_bin(1, 11, 5) == 0
  assert position_labels(5) == ["0-0.2", "0.2-0.4", "0.4-0.6", "0.6-0.8", "0.8-1"]


def _two_episodes():
  a = make_traj(["a", "b", "a", "a", "b"], family="search",
                kinds=["navigation", "manipulation", "navigation", "critical", "critical"],
                score=100.0, costs=[0.1, 0.2, 0.1, 0.1, 0.2])
  b = make_traj(["b", "b"], family="biology", task="plant",
                kinds=["navigation", "critical"], costs=[0.2, 0.2])
  return a, b


def test_model_shares_by_kind_family_position():
  res = evaluate_trajectories(_two_episodes(), n_boot=100)
  spec = res["overall"]["specialisation"]
  kind = spec["by_step_kind"]
  # navigation: a (A0), a (A2), b (B0); manipulation: b (A1); critical: a (A3), b (A4), b (B1)
  assert kind["calls"] == {"critical": {"a": 1, "b": 2}, "manipulation": {"b": 1},
                           "navigation": {"a": 2, "b": 1}}
  assert kind["model_share"]["navigation"] == pytest.approx({"a": 2 / 3, "b": 1 / 3})
  assert kind["model_share"]["critical"] == pytest.approx({"a": 1 / 3, "b": 2 / 3})
  # a has 3 calls (2 navigation, 1 critical), b 4 (1 nav, 1 manip, 2 critical)
  assert kind["group_share"]["a"] == pytest.approx({"navigation": 2 / 3, "critical": 1 / 3})
  assert kind["group_share"]["b"] == pytest.approx(
      {"navigation": 0.25, "manipulation": 0.25, "critical": 0.5})
  fam = spec["by_task_family"]["model_share"]
  assert fam["search"] == pytest.approx({"a": 0.6, "b": 0.4})
  assert fam["biology"] == {"b": 1.0}
  # positions: A (T=5) -> bins 0..4 for a,b,a,a,b; B (T=2) -> bins 0 and 4 for b,b.
  pos = spec["by_position"]["calls"]
  assert list(pos) == position_labels(5)
  assert pos == {"0-0.2": {"a": 1, "b": 1}, "0.2-0.4": {"b": 1}, "0.4-0.6": {"a": 1},
                 "0.6-0.8": {"a": 1}, "0.8-1": {"b": 2}}
  ov = res["overall"]
  assert ov["episodes"] == 2 and ov["success_rate"] == 0.5
  assert ov["score"]["mean"] == 50.0
  assert ov["cost"]["total"] == pytest.approx(1.1)
  assert ov["cost"]["mean"] == pytest.approx(0.55)
  assert ov["steps"] == {"mean": 3.5, "total": 7, "min": 2, "max": 5}
  assert ov["exit_statuses"] == {"Submitted": 2}
  assert ov["model_usage"]["b"] == {"calls": 4, "share": 4 / 7, "cost": pytest.approx(0.8)}
  assert ov["switch_rate"]["mean"] == pytest.approx((3 / 4 + 0.0) / 2)
  assert set(res["per_task"]) == {"fetch", "plant"}
  assert res["per_task"]["plant"]["model_usage"] == {"b": {"calls": 2, "share": 1.0,
                                                           "cost": pytest.approx(0.4)}}


def test_step_kind_fallbacks():
  actions = ["go to kitchen", "pick up seed", "focus on seed"]
  plain = make_traj(["a", "a", "a"], actions=actions)  # no extra.simulated
  assert step_kinds(plain) == ["unknown"] * 3
  assert step_kinds(plain, lambda action, task: ToyEnv().step_kind(action)) == [
      "navigation", "manipulation", "critical"]
  sw = make_traj(["a", "a", "a"], actions=actions, benchmark="scienceworld",
                 task="find-plant")
  assert episode_metrics(sw)["kinds"] == ["navigation", "manipulation", "critical"]
  recorded = make_traj(["a"], kinds=["critical"], actions=["go to kitchen"])
  assert step_kinds(recorded, lambda a, t: "navigation") == ["critical"]  # recorded wins
  assert episode_metrics(make_traj(["a"], family=None))["family"] == "unknown"
  assert episode_metrics(make_traj(["a"], family=None),
                         task_family=ToyEnv().task_family)["family"] == "search"


def test_rows_must_share_position_bins():
  r5 = episode_metrics(make_traj(["a", "b"]), n_position_bins=5)
  r3 = episode_metrics(make_traj(["a", "b"]), n_position_bins=3)
  assert list(aggregate_metrics([r3], n_boot=10)["specialisation"]["by_position"]
              ["calls"]) == ["0-0.333", "0.667-1"]
  with pytest.raises(ValueError, match="position bins"):
    aggregate_metrics([r5, r3])


def test_a_prompted_routers_own_calls_count_in_the_episode_cost():
  traj = make_traj(["a", "b"], costs=[0.01, 0.02])
  assert episode_metrics(traj)["cost"] == pytest.approx(0.03)
  for i, msg in enumerate(m for m in traj.messages if m["role"] == "assistant"):
    msg["router_info"] = {"selected_model": msg["model_name"], "policy_cost": 0.005 * (i + 1)}
  row = episode_metrics(traj)
  assert row["routing_cost"] == pytest.approx(0.015)
  assert row["cost"] == pytest.approx(0.045)
  traj.messages[2]["router_info"]["policy_cost"] = float("nan")
  with pytest.raises(ValueError, match="router_info.policy_cost"):
    episode_metrics(traj)
