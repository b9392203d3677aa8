"""The agent loop on the toy environment: replay, limits, fallbacks, failures."""

import dataclasses

import pytest

from mtr_jax.agents.base import Completion
from mtr_jax.agents.simulated import SimulatedBackend
from mtr_jax.envs.toy import ToyEnv
from mtr_jax.pool import Pool, load_pool, model_from_dict
from mtr_jax.rollout.episode import FORMAT_ERROR, Limits, run_episode
from mtr_jax.routing import FixedRouter, RandomRouter

BACKENDS = {"simulated": SimulatedBackend()}


@pytest.fixture(scope="module")
def pool():
  return load_pool("paper6")


def _run(pool, router, seed=3, task="plant", variation=4, limits=Limits(), backends=BACKENDS):
  return run_episode(ToyEnv(), task, variation, pool=pool, router=router,
                     backends=backends, seed=seed, limits=limits)


def test_same_seed_replays_identically(pool):
  a = _run(pool, RandomRouter(0))
  b = _run(pool, RandomRouter(0))
  assert a == b
  c = _run(pool, RandomRouter(0), seed=4)
  assert c["messages"] != a["messages"]


def test_message_format_and_step_fields(pool):
  traj = _run(pool, RandomRouter(1))
  msgs = traj["messages"]
  assert msgs[0]["role"] == "system"
  assert msgs[1]["content"].startswith("<task_description>\n")
  assert "<initial_observation>" in msgs[1]["content"]
  for m in msgs[2:]:
    if m["role"] == "assistant":
      assert m["model_name"] in pool.names
      assert m["propensity"] == pytest.approx(1 / 6)
      usage = m["extra"]["response"]["usage"]
      spec = pool[m["model_name"]]
      assert usage["cost"] == pytest.approx(
          spec.cost(usage["prompt_tokens"], usage["completion_tokens"]))
    else:
      assert m["content"].startswith("<observation>\n")
  total = sum(m["extra"]["response"]["usage"]["cost"] for m in msgs if m["role"] == "assistant")
  assert traj["info"]["model_stats"]["instance_cost"] == pytest.approx(total)
  assert traj["info"]["simulated"] is True


def test_cost_limit_stops_before_the_next_call(pool):
  limit = 0.02  # a few GPT-5 calls
  traj = _run(pool, FixedRouter("openai/gpt-5"), limits=Limits(step_limit=50, cost_limit=limit),
              variation=2)
  costs = [m["extra"]["response"]["usage"]["cost"] for m in traj["messages"]
           if m["role"] == "assistant"]
  assert traj["info"]["exit_status"] == "LimitsExceeded"
  assert sum(costs) >= limit
  assert sum(costs[:-1]) < limit  # the last call started while under the limit


def test_step_limit(pool):
  traj = _run(pool, FixedRouter("google/gemini-2.5-flash-lite"),
              limits=Limits(step_limit=2, cost_limit=10.0))
  assert traj["info"]["exit_status"] == "LimitsExceeded"
  assert traj["info"]["model_stats"]["api_calls"] == 2


def _perfect(name="perfect", **kw):
  return model_from_dict({"name": name, "input_price": 0.1, "output_price": 0.1, "profile": {
      "skill": {"navigation": 1, "manipulation": 1, "critical": 1},
      "completion_tokens": {"mean": 10}}, **kw})


def test_perfect_agent_follows_gold_and_submits():
  pool = Pool("one", (_perfect(),))
  traj = _run(pool, FixedRouter("perfect"), variation=5)
  env = ToyEnv()
  env.reset("plant", 5)
  assert traj["info"]["exit_status"] == "Submitted"
  assert traj["info"]["final_score"] == 100.0
  assert traj["info"]["model_stats"]["api_calls"] == len(env.gold_actions())


def test_context_window_fallback_is_recorded():
  tiny = _perfect("tiny", max_input_tokens=150)
  big = dataclasses.replace(tiny, name="big", max_input_tokens=100000)
  pool = Pool("two", (tiny, big))
  traj = _run(pool, FixedRouter("tiny"))
  steps = [m for m in traj["messages"] if m["role"] == "assistant"]
  assert steps[0]["model_name"] == "tiny"
  assert any(s["model_name"] == "big" and s["router_info"]["fallback_from"] == "tiny"
             for s in steps)
  assert traj["info"]["context_fallbacks"] >= 1


class _FailingBackend:
  def complete(self, messages, model, ctx):
    return Completion("", ctx.prompt_tokens, 0, 0.0, model.name, error="HTTP 500 x3",
                      extra={"attempts": 3})


class _NoActionBackend:
  def complete(self, messages, model, ctx):
    return Completion("I am not sure what to do.", ctx.prompt_tokens, 5,
                      model.cost(ctx.prompt_tokens, 5), model.name)


def test_failed_call_is_recorded_not_raised(pool):
  traj = _run(pool, FixedRouter("openai/gpt-5"), backends={"simulated": _FailingBackend()})
  assert traj["info"]["exit_status"] == "APIError"
  assert "HTTP 500" in traj["info"]["error"]
  last = traj["messages"][-1]
  assert last["role"] == "assistant" and last["extra"]["error"] == "HTTP 500 x3"


def test_reply_without_action_gets_format_error(pool):
  traj = _run(pool, FixedRouter("openai/gpt-5"), backends={"simulated": _NoActionBackend()},
              limits=Limits(step_limit=2, cost_limit=1.0))
  assert FORMAT_ERROR in traj["messages"][3]["content"]
