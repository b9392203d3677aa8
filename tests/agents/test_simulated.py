"""The simulated agents: parsing, replay of progress, skill model, seeding."""

import numpy as np
import pytest

from mtr_jax.agents.base import TurnContext
from mtr_jax.agents.simulated import SimulatedBackend, _garble, parse_action, replay
from mtr_jax.envs.toy import ToyEnv
from mtr_jax.pool import load_pool

ERR = ToyEnv.error_text
GOLD = ["go to kitchen", "open cupboard", "pick up seed", "focus on seed"]


def _ctx(turn=0, prompt_tokens=500, family="biology", seed=1):
  env = ToyEnv()
  return TurnContext(episode_seed=seed, turn=turn, task="plant", task_family=family,
                     gold_actions=GOLD, step_kind=env.step_kind,
                     wasted_actions=env.wasted_actions(),
                     wrong_critical_action=env.wrong_critical_action, error_text=ERR,
                     prompt_tokens=prompt_tokens)


def _a(action, model="m"):
  return {"role": "assistant", "content": f"THOUGHT: x\n\n```text\n{action}\n```",
          "model_name": model}


def _o(text):
  return {"role": "user", "content": f"<observation>\n{text}\n</observation>"}


def test_parse_action():
  assert parse_action("THOUGHT: hi\n```text\nopen door\n```") == "open door"
  assert parse_action("```\nlook around\n```") == "look around"
  assert parse_action("two\n```text\na\n```\n```text\nb\n```") == "b"
  assert parse_action("no block here") is None
  assert parse_action("```text\n\n```") is None


def test_replay_counts_progress_and_errors():
  msgs = [_a("go to kitchen", "m"), _o("ok"), _a("opne cupboard", "m"), _o(ERR),
          _a("open cupboard", "n"), _o("ok"), _a("look around", "m"), _o("room")]
  p, own_erred, n_err = replay(msgs, GOLD, "m", ERR)
  assert p == 2 and n_err == 1 and own_erred  # 'look around' was off the gold path
  p, own_erred, _ = replay(msgs[:6], GOLD, "n", ERR)
  assert p == 2 and not own_erred


def test_a_rejected_gold_action_does_not_count_as_progress():
  msgs = [_a("go to kitchen"), _o("ok"), _a("open cupboard"), _o(ERR)]
  p, own_erred, n_err = replay(msgs, GOLD, "m", ERR)
  assert p == 1 and own_erred and n_err == 1


def test_p_correct_falls_with_context_errors_and_family():
  pool = load_pool("paper6")
  backend = SimulatedBackend()
  m = pool["google/gemini-2.5-flash-lite"]
  short = backend.p_correct(m, "manipulation", _ctx(prompt_tokens=500), False, 0)
  long = backend.p_correct(m, "manipulation", _ctx(prompt_tokens=20000), False, 0)
  sticky = backend.p_correct(m, "manipulation", _ctx(prompt_tokens=500), True, 0)
  assert long < short and sticky < short
  assert short == pytest.approx(m.profile.skill["manipulation"], abs=1e-9)


def test_draws_are_seeded_by_episode_turn_and_model():
  pool = load_pool("paper6")
  backend = SimulatedBackend()
  msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
  outs = {}
  for name in pool.names:
    for turn in range(3):
      a = backend.complete(msgs, pool[name], _ctx(turn=turn))
      b = backend.complete(msgs, pool[name], _ctx(turn=turn))
      assert a == b
      outs[name, turn] = a.completion_tokens
  assert len(set(outs.values())) > len(outs) // 2  # different draws across models/turns


def test_failure_forms_appear_with_their_rates():
  pool = load_pool("paper6")
  backend = SimulatedBackend()
  m = pool["google/gemini-2.5-flash-lite"]
  outcomes = [backend.choose_action([], m, _ctx(seed=s), np.random.default_rng(s))[2]
              for s in range(400)]
  frac_correct = outcomes.count("correct") / len(outcomes)
  assert frac_correct == pytest.approx(m.profile.skill["navigation"], abs=0.07)
  assert {"invalid", "wasted"} <= set(outcomes)


def test_garbled_actions_differ_from_the_original():
  rng = np.random.default_rng(0)
  for action in ["open door to kitchen", "look", "focus on red box", "x"]:
    for _ in range(20):
      assert _garble(action, rng) != action
