"""The prompted LLM router: a policy LLM reads the last turns and names a model.

As the reference's `LLMRouter`: every turn, a policy LLM gets a system prompt
listing the pool's models (with a one-line description each; by default
their prices and context window) and the last `history_turns` turns of the
conversation, and answers `<think>...</think><select>model name</select>`.
The named model writes the next message. A reply without a usable name falls
back to `fallback` (default: the pool's first model, as the reference) and is
marked `parse_failed` in the router info. Beyond the reference, the prompt
also states the cost spent so far and the budget (`show_budget`).

The policy LLM is called through the real-LLM backend
(`mtr_jax.agents.openai_backend.OpenAIBackend`) and is configured like a pool
entry with `backend: openai` (name, prices, `endpoint: {base_url,
api_key_env, ...}`). **It is not available on the simulated testbed**: there
is no LLM to ask, so a policy without a real endpoint raises
`PromptedRouterUnavailable`. The policy's own calls are not charged to the
episode by the agent loop; each decision logs them (`policy_cost`,
`policy_prompt_tokens`, `policy_completion_tokens`) and evaluation adds
`policy_cost` to the episode's cost (`evaluation.metrics.policy_cost`). The propensity is logged as 1.0 (a sampled LLM's true choice
probability is unknown).

Router-R1 (an LLM trained with reinforcement learning to interleave thinking
and routing) is out of scope for mtr-jax: it needs RL fine-tuning of an LLM,
which this project does not do.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from mtr_jax.agents.base import TurnContext
from mtr_jax.embeddings.history import content_text
from mtr_jax.pool import ModelSpec, model_from_dict
from mtr_jax.routing.base import RouteDecision
from mtr_jax.routing.baselines.common import CONFIG_FILE, FORMAT, read_config

_SELECT = re.compile(r"<select>\s*([^<]+?)\s*</select>", re.DOTALL)
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
MAX_LOGGED_CHARS = 2000


class PromptedRouterUnavailable(RuntimeError):
  """The prompted LLM router was asked to run without a real LLM endpoint."""


class PromptedRouterError(RuntimeError):
  """The policy LLM's call failed for good (after the backend's retries)."""


def _unavailable(why: str) -> PromptedRouterUnavailable:
  return PromptedRouterUnavailable(
      f"the prompted LLM router needs a real LLM as its policy: {why}. Give it a "
      f"pool-style model entry with `backend: openai` and `endpoint: {{base_url, "
      f"api_key_env}}` of an OpenAI-compatible server. It is not available on the "
      f"simulated testbed (no LLM is reachable there); use the learned baselines "
      f"instead")


def policy_spec(policy: ModelSpec | Mapping[str, Any]) -> ModelSpec:
  """The policy model as a `ModelSpec`; raises `PromptedRouterUnavailable`
  unless it is an `openai` backend model with an endpoint."""
  if isinstance(policy, Mapping):
    backend = policy.get("backend", "simulated")
    if backend != "openai":
      raise _unavailable(f"policy model {policy.get('name')!r} has backend {backend!r}")
    if not policy.get("endpoint"):
      raise _unavailable(f"policy model {policy.get('name')!r} has no endpoint")
    policy = model_from_dict(dict(policy), "<prompted router policy>")
  if policy.backend != "openai" or policy.endpoint is None:
    raise _unavailable(f"policy model {policy.name!r} has backend {policy.backend!r}"
                       + ("" if policy.endpoint else " and no endpoint"))
  return policy


def spec_to_dict(spec: ModelSpec) -> dict[str, Any]:
  """A pool-style entry of `spec` (with its endpoint; never an API key)."""
  out = spec.metadata()
  out["endpoint"] = {k: v for k, v in dataclasses.asdict(spec.endpoint).items()
                     if v is not None}
  return {k: v for k, v in out.items() if v is not None}


def describe(model: ModelSpec) -> str:
  return (f"${model.input_price:g}/M input tokens, ${model.output_price:g}/M output tokens, "
          f"context {model.max_input_tokens} tokens")


def parse_choice(text: str, names: Sequence[str]) -> str | None:
  """The pool model named in the policy's reply: the `<select>` tag (exact, then
  case-insensitive, then by the part after '/'); without a tag, the one pool
  name the text contains if there is exactly one; else None."""
  def match(candidate: str) -> str | None:
    c = candidate.strip().strip("`'\"").strip()
    for name in names:
      if c == name:
        return name
    for name in names:
      if c.lower() == name.lower():
        return name
    for name in names:
      if c.lower() == name.split("/")[-1].lower():
        return name
    return None
  if m := _SELECT.search(text):
    return match(m.group(1))
  hits = [n for n in names if n in text]
  return hits[0] if len(hits) == 1 else match(text)


class PromptedLLMRouter:
  """A policy LLM names the model of every turn (see module docstring).

  policy: the policy model, a `ModelSpec` or a pool-style dict (backend openai).
  history_turns: turns shown (about 2 messages each); 0 shows every message.
  descriptors: model name -> description (default: prices and context).
  fallback: the model used when the reply names none (default: pool's first).
  backend: the backend object (default: a new `OpenAIBackend`).
  max_chars: each shown message is cut to its last `max_chars` characters.
  """

  kind = "llm_router"
  single_turn = False

  def __init__(self, policy: ModelSpec | Mapping[str, Any], *, history_turns: int = 3,
               descriptors: Mapping[str, str] | None = None, fallback: str | None = None,
               show_budget: bool = True, max_chars: int = 4000, backend=None, seed: int = 0):
    self.policy = policy_spec(policy)
    self.history_turns, self.max_chars = int(history_turns), int(max_chars)
    self.descriptors = dict(descriptors or {})
    self.fallback, self.show_budget, self.seed = fallback, bool(show_budget), int(seed)
    if backend is None:
      from mtr_jax.agents.openai_backend import OpenAIBackend
      backend = OpenAIBackend()
    self.backend = backend
    self.policy_cost = 0.0

  def reset(self, episode_seed: int) -> None:
    self.policy_cost = 0.0   # the policy's USD in the current episode

  # --- prompt -----------------------------------------------------------------
  def system_prompt(self, pool) -> str:
    models = "\n".join(f"- {m.name}: {self.descriptors.get(m.name) or describe(m)}"
                       for m in pool)
    example = pool.names[-1]
    return ("You are a model routing assistant. Your job is to select the best model "
            "to write the next reply of the conversation below.\n\n"
            f"Available models:\n{models}\n\n"
            "Instructions:\n1. Analyze the task in <think>...</think> tags\n"
            "2. Select the best model using <select>model_name</select>\n\n"
            f"Example:\n<think>A simple step; a cheaper model suffices.</think>\n"
            f"<select>{example}</select>\n\n"
            "Rules:\n- You MUST output exactly one <select> tag\n"
            "- The model name must match exactly from the available list\n"
            "- Consider: task complexity, model strengths, cost-effectiveness\n")

  def task_prompt(self, messages: Sequence[dict], spent: float, budget: float) -> str:
    n = max(1, self.history_turns * 2)
    shown = list(messages) if self.history_turns == 0 else list(messages[-n:])
    n_steps = sum(1 for m in messages if m.get("role") == "assistant")
    lines = [f"Current step: {n_steps + 1}"]
    if self.show_budget:
      lines.append(f"Cost so far: ${spent:.4f} of a ${budget:.2f} budget")
    lines += [f"Showing the last {len(shown)} of {len(messages)} messages:", ""]
    for m in shown:
      text = content_text(m)
      if len(text) > self.max_chars:
        text = "..." + text[-self.max_chars:]
      lines += [f"[{str(m.get('role', 'unknown')).capitalize()}]", text, ""]
    return "\n".join(lines)

  # --- routing ----------------------------------------------------------------
  def select(self, messages, pool, spent: float, budget: float) -> RouteDecision:
    policy_messages = [{"role": "system", "content": self.system_prompt(pool)},
                       {"role": "user", "content": self.task_prompt(messages, spent, budget)}]
    ctx = TurnContext(episode_seed=0, turn=0, task="", task_family="", gold_actions=(),
                      step_kind=lambda _a: "", wasted_actions=(),
                      wrong_critical_action=lambda *_a: None, error_text="",
                      prompt_tokens=sum(len(m["content"]) for m in policy_messages) // 4)
    result = self.backend.complete(policy_messages, self.policy, ctx)
    if result.error is not None:
      raise PromptedRouterError(f"prompted LLM router: the policy model "
                                f"{self.policy.name!r} failed: {result.error}")
    self.policy_cost += result.cost
    chosen = parse_choice(result.content, pool.names)
    info: dict[str, Any] = {
        "policy": self.kind, "policy_model": self.policy.name,
        "policy_cost": result.cost, "policy_prompt_tokens": result.prompt_tokens,
        "policy_completion_tokens": result.completion_tokens,
        "think": (m.group(1).strip() if (m := _THINK.search(result.content)) else ""),
        "policy_output": result.content[:MAX_LOGGED_CHARS],
        "parse_failed": chosen is None}
    if chosen is None:
      chosen = pool[self.fallback].name if self.fallback else pool.names[0]
    return RouteDecision(chosen, 1.0, info)

  # --- persistence ------------------------------------------------------------
  def config(self) -> dict[str, Any]:
    return {"policy": spec_to_dict(self.policy), "history_turns": self.history_turns,
            "descriptors": self.descriptors, "fallback": self.fallback,
            "show_budget": self.show_budget, "max_chars": self.max_chars, "seed": self.seed}

  def save(self, path: str | Path) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    doc = {"format": FORMAT, "kind": self.kind, "config": self.config()}
    (path / CONFIG_FILE).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path

  @classmethod
  def load(cls, path: str | Path, *, backend=None, **overrides) -> "PromptedLLMRouter":
    doc = read_config(path)
    if doc["kind"] != cls.kind:
      raise ValueError(f"{path}: holds a {doc['kind']!r} router, not {cls.kind!r}")
    return cls(**{**doc["config"], **overrides}, backend=backend)
