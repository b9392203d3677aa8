"""ScienceWorldEnv against the real simulator (one JVM for the module)."""

from __future__ import annotations

import numpy as np
import pytest

from mtr_jax.envs._jvm import UnknownTaskError
from mtr_jax.envs.base import EnvironmentError_
from mtr_jax.envs.scienceworld import TASKS, ScienceWorldEnv, cached_gold, num_variations
from mtr_jax.envs.splits import split_tasks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env():
  e = ScienceWorldEnv()
  yield e
  e.close()


def _first(split: str, task: str) -> int:
  return next(r.variation for r in split_tasks("scienceworld", split) if r.task == task)


def _run_gold(env, task, variation):
  env.reset(task, variation)
  result = None
  for action in env.gold_actions():
    result = env.step(action)
    if result.done:
      break
  return result


def test_variation_json_matches_the_real_environment(env):
  assert sorted(str(t) for t in env._server.getTaskNames()) == list(TASKS)
  for task in ("boil", "find-animal", "identify-life-stages-2", "test-conductivity"):
    assert num_variations(task) == env._server.getTaskMaxVariations(task)


@pytest.mark.parametrize("split,task", [("train", "find-plant"),
                                        ("ood", "lifespan-shortest-lived")])
def test_gold_agent_reaches_100(env, split, task):
  variation = _first(split, task)
  description, observation = env.reset(task, variation)
  assert description.startswith("Your task is to")
  assert observation.startswith("This ")  # the 'look around' of reset
  result = _run_gold(env, task, variation)
  assert result.score == 100.0 and result.done
  assert env.score == 100.0 and env.done


def test_cached_gold_equals_live_generation(env):
  task, variation = "lifespan-shortest-lived", _first("ood", "lifespan-shortest-lived")
  cached = cached_gold(task, variation)
  assert cached is not None
  env.use_gold_cache = False
  try:
    env.reset(task, variation)
    assert tuple(env.gold_actions()) == cached  # deterministic JVM: same in any process
  finally:
    env.use_gold_cache = True


def test_wrong_focus_ends_the_episode_at_minus_100(env):
  env.reset("find-plant", _first("train", "find-plant"))
  gold = env.gold_actions()
  k = next(i for i, a in enumerate(gold) if env.step_kind(a) == "critical")
  for action in gold[:k]:
    env.step(action)
  before = (env.history(), env.score, env.done)
  assert env.wrong_critical_action(gold[k - 1], np.random.default_rng(0)) is None
  wrong = env.wrong_critical_action(gold[k], np.random.default_rng(0))
  assert wrong is not None and wrong.startswith("focus on ") and wrong != gold[k]
  assert wrong == env.wrong_critical_action(gold[k], np.random.default_rng(0))
  assert (env.history(), env.score, env.done) == before  # the episode was restored
  result = env.step(wrong)
  assert result.score == -100.0 and result.done
  assert env.step("look around").done and env.score == -100.0


def test_the_restored_episode_still_wins(env):
  env.reset("find-plant", _first("train", "find-plant"))
  gold = env.gold_actions()
  for action in gold:
    if env.step_kind(action) == "critical":
      assert env.wrong_critical_action(action, np.random.default_rng(1)) is not None
    env.step(action)
  assert env.score == 100.0 and env.done


def test_gibberish_returns_error_text(env):
  env.reset("find-plant", 0)
  result = env.step("xyzzy the plugh")
  assert result.observation == env.error_text == "No known action matches that input."
  assert result.score == 0.0 and not result.done


def test_wasted_actions_are_free(env):
  task, variation = "power-component", _first("train", "power-component")
  env.reset(task, variation)
  gold = env.gold_actions()
  for action in gold[:3]:
    env.step(action)
  moves, score = env._server.getNumMoves(), env.score
  for action in env.wasted_actions():
    result = env.step(action)
    assert result.observation != env.error_text and result.score == score and not result.done
  assert env._server.getNumMoves() == moves
  for action in gold[3:]:
    if env.step(action).done:
      break
  assert env.score == 100.0


def test_unknown_task_or_variation_is_a_clear_error(env):
  with pytest.raises(UnknownTaskError, match="no-such-task"):
    env.reset("no-such-task", 0)
  with pytest.raises(EnvironmentError_, match=r"'boil' has variations 0\.\.29, got 30"):
    env.reset("boil", 30)
  with pytest.raises(EnvironmentError_):
    env.reset("boil", -1)


def test_observations_are_a_function_of_the_actions(env):
  # grow-fruit has bees; without the deterministic JVM options they move
  # differently on every load.
  task, variation = "grow-fruit", 78
  runs = []
  for _ in range(2):
    _, first = env.reset(task, variation)
    observations = [first]
    for action in env.gold_actions():
      result = env.step(action)
      observations.append(result.observation)
      if result.done:
        break
    runs.append((observations, env.score))
  assert runs[0] == runs[1]
  assert runs[0][1] == 100.0
