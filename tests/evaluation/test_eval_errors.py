"""Behaviour after an error observation, on tiny hand-checked episodes."""

from __future__ import annotations

import pytest

from mtr_jax.evaluation.errors import error_counts
from mtr_jax.evaluation.metrics import episode_metrics, evaluate_trajectories
from mtr_jax.training.targets import ErrorRule

from eval_builders import ERR, OK, make_traj  # noqa: E402


def _erring():
  # t:        0        1        2        3        4        5
  # model:    a        a        b        b        a        a
  # o_t:      ok       ERR      ok       ERR      ERR      ERR (after the last step)
  # outcome:  correct  invalid  correct  invalid  invalid  invalid
  return make_traj(["a", "a", "b", "b", "a", "a"],
                   observations=[OK, ERR, OK, ERR, ERR, ERR],
                   outcomes=["correct", "invalid", "correct", "invalid", "invalid", "invalid"],
                   score=0.0)


def test_error_counts_by_hand():
  # Events (error at t, step t+1 exists): t=1, 3, 4.
  #  t=1: a->b switched; o_2 ok -> recovered; a 'correct' later (t=2) -> progressed
  #  t=3: b->a switched; o_4 ERR -> not recovered; no 'correct' after -> no progress
  #  t=4: a->a stayed;   o_5 ERR -> not recovered; no progress
  # Non-error transitions: t=0 (a->a), t=2 (b->b): no switch. t=5: error at the end.
  c = episode_metrics(_erring())["errors"]
  assert c == {"error_observations": 4, "errors_at_end": 1, "events": 3, "switched": 2,
               "recovered": 1, "switched_recovered": 1, "stayed_recovered": 0,
               "progress_events": 3, "progressed": 1, "ok_transitions": 2,
               "switched_after_ok": 0}


def test_error_behaviour_rates_by_hand():
  clean = make_traj(["a", "b"], score=100.0)  # one ok transition, switched
  eb = evaluate_trajectories([_erring(), clean], n_boot=50)["overall"]["error_behaviour"]
  assert eb["events"] == 3 and eb["error_observations"] == 4 and eb["errors_at_end"] == 1
  assert eb["switch_after_error"] == pytest.approx(2 / 3)
  assert eb["switch_after_ok"] == pytest.approx(1 / 3)   # 1 switch in 3 ok transitions
  assert eb["recovery_rate"] == pytest.approx(1 / 3)
  assert eb["recovery_if_switched"] == pytest.approx(1 / 2)
  assert eb["recovery_if_stayed"] == 0.0
  assert eb["progress_rate"] == pytest.approx(1 / 3)
  assert eb["episodes_with_error"] == 1
  assert eb["success_with_error"] == 0.0 and eb["success_without_error"] == 1.0


def test_failed_next_call_is_not_a_recovery_and_no_outcomes_means_no_progress():
  # Error after step 0, then step 1 is a failed call (no observation).
  t = make_traj(["a", "b"], observations=[ERR, OK], failed_last=True)
  c = episode_metrics(t)["errors"]
  assert (c["events"], c["switched"], c["recovered"]) == (1, 1, 0)
  assert c["progress_events"] == 0
  eb = evaluate_trajectories([t], n_boot=10)["overall"]["error_behaviour"]
  assert eb["progress_rate"] is None and eb["recovery_rate"] == 0.0
  assert eb["switch_after_ok"] is None  # no non-error transition at all


def test_custom_rules_and_direct_counts():
  t = make_traj(["a", "a"], observations=["<observation>\nOOPS\n</observation>", OK])
  assert episode_metrics(t)["errors"]["events"] == 0  # default toy rules: no match
  rules = [ErrorRule("oops", ignore_case=True)]
  assert episode_metrics(t, error_rules=rules)["errors"]["events"] == 1
  assert episode_metrics(t, error_rules={"toy": rules})["errors"]["recovered"] == 1
  with pytest.raises(KeyError, match="no error rules"):
    episode_metrics(t, error_rules={"twx": rules})
  assert error_counts(["x"], [True], [True])["errors_at_end"] == 1
  with pytest.raises(ValueError, match="one entry per step"):
    error_counts(["x", "y"], [True], [True])
