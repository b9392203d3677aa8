"""The agent loop: one episode of a text environment, a router choosing the model
of every turn, written as a reference-format ("mini-agentic-router-1") trajectory.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

from mtr_jax.agents.base import Backend, TurnContext
from mtr_jax.agents.simulated import parse_action
from mtr_jax.agents.tokens import TokenCounter, default_counter
from mtr_jax.envs.base import Environment
from mtr_jax.pool import Pool
from mtr_jax.routing.base import Router

TRAJECTORY_FORMAT = "mini-agentic-router-1"

SYSTEM_PROMPT = (
    "You are an agent solving a task in a text-based environment. Each turn, think "
    "briefly, then give exactly one action for the environment in a fenced block:\n"
    "THOUGHT: <your reasoning>\n\n```text\n<one action>\n```\n"
    "The environment replies with an observation. Finish the task in as few steps "
    "as you can.")

FORMAT_ERROR = ("Your reply had no action. Reply with one action inside a "
                "```text block.")


@dataclasses.dataclass(frozen=True)
class Limits:
  """Per-episode limits (reference: ScienceWorld 50 steps / $2.00)."""

  step_limit: int = 50
  cost_limit: float = 2.0


def first_user_message(task_description: str, observation: str) -> str:
  return (f"<task_description>\n{task_description.strip()}\n</task_description>\n\n"
          f"<initial_observation>\n{observation.strip()}\n</initial_observation>")


def observation_message(observation: str) -> str:
  return f"<observation>\n{observation.strip()}\n</observation>"


def run_episode(env: Environment, task: str, variation: int, *, pool: Pool,
                router: Router, backends: Mapping[str, Backend], seed: int,
                limits: Limits = Limits(), task_id: str | None = None,
                counter: TokenCounter | None = None,
                extra_info: Mapping | None = None) -> dict:
  """Runs one episode and returns the trajectory (a JSON-ready dict).

  The loop never starts a call once the spent cost has reached the cost limit,
  stops at the step limit, and records a failed model call (after the backend's
  retries) with its error instead of raising.
  """
  counter = counter or default_counter()
  description, observation = env.reset(task, variation)
  gold = env.gold_actions()
  family = env.task_family(task)
  messages: list[dict] = [
      {"role": "system", "content": SYSTEM_PROMPT},
      {"role": "user", "content": first_user_message(description, observation)},
  ]
  router.reset(seed)
  spent, calls, exit_status, error = 0.0, 0, None, None
  fallbacks = 0
  by_context = max(pool, key=lambda m: m.max_input_tokens)

  while exit_status is None:
    if env.done:
      exit_status = "Submitted"
      break
    if calls >= limits.step_limit or spent >= limits.cost_limit:
      exit_status = "LimitsExceeded"
      break
    decision = router.select(messages, pool, spent, limits.cost_limit)
    model = pool[decision.model]
    router_info = {"selected_model": model.name, "propensity": decision.propensity,
                   **decision.info}
    prompt_tokens = counter.count_messages(messages)
    if prompt_tokens > model.max_input_tokens:
      if prompt_tokens > by_context.max_input_tokens:
        exit_status = "ContextWindowExceeded"
        break
      router_info["fallback_from"] = model.name
      router_info["fallback_reason"] = (
          f"prompt of {prompt_tokens} tokens exceeds {model.max_input_tokens}")
      model = by_context
      fallbacks += 1
    ctx = TurnContext(
        episode_seed=seed, turn=calls, task=task, task_family=family,
        gold_actions=gold, step_kind=env.step_kind,
        wasted_actions=env.wasted_actions(),
        wrong_critical_action=env.wrong_critical_action,
        error_text=env.error_text, prompt_tokens=prompt_tokens)
    result = backends[model.backend].complete(messages, model, ctx)
    if result.error is not None:
      exit_status, error = "APIError", f"{model.name}: {result.error}"
      messages.append({"role": "assistant", "content": "", "model_name": model.name,
                       "propensity": decision.propensity, "router_info": router_info,
                       "extra": {"error": result.error, **result.extra}})
      break
    calls += 1
    spent += result.cost
    messages.append({
        "role": "assistant", "content": result.content, "model_name": model.name,
        "propensity": decision.propensity, "router_info": router_info,
        "extra": {**result.extra, "response": {"model": model.name, "usage": {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "cost": result.cost}}},
    })
    action = parse_action(result.content)
    reply = FORMAT_ERROR if action is None else env.step(action).observation
    messages.append({"role": "user", "content": observation_message(reply)})

  info = {
      "exit_status": exit_status,
      "task_id": task_id or f"{task}_var{variation}",
      "task_name": task,
      "variation_idx": variation,
      "benchmark": env.name,
      "task_family": family,
      "final_score": float(env.score),
      "done": bool(env.done),
      "seed": seed,
      "pool": pool.name,
      "simulated": any(pool[m["model_name"]].backend == "simulated"
                       for m in messages if m["role"] == "assistant"),
      "limits": dataclasses.asdict(limits),
      "gold_length": len(gold),
      "context_fallbacks": fallbacks,
      "model_stats": {"instance_cost": spent, "api_calls": calls},
  }
  if error:
    info["error"] = error
  if extra_info:
    info.update(extra_info)
  return {"trajectory_format": TRAJECTORY_FORMAT, "info": info, "messages": messages}
