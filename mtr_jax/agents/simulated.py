"""Simulated LLM agents: a seeded, documented model of what matters for routing.

A simulated agent knows the gold action sequence of its episode. Each turn it
works out, from the history alone, how far along the gold path the episode is,
and emits the next gold action with a probability that depends on its profile
(mtr_jax.pool.Profile):

  logit p_correct = logit(skill[kind of the next gold step])
                    + family_bias[task family]
                    - context_decay * max(0, prompt_tokens - context_free_tokens) / 1000
                    - stickiness            (if this model's own previous action erred)
                    - history_error_penalty * min(error observations so far, 3)

On failure it emits, by the profile's failure_mix, a garbled action (the
environment answers with its own error text) or a valid but wasted action; on a
critical step (`focus on`) a failure is, with probability `wrong_focus`, a wrong
focus that ends the episode at -100. Completion lengths are lognormal per model
(reasoning models write far more than they show); prompt tokens come from the
loop, counted with the encoder's tokenizer on the whole message list.

Every draw uses a generator seeded by (episode seed, turn, model), so an episode
replays exactly and the counterfactual "what would model m have done at turn t"
is well defined. Nothing here calls an LLM: results on this testbed are
simulated-agent results.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Sequence

import numpy as np

from mtr_jax.agents.base import Completion, Message, TurnContext
from mtr_jax.pool import ModelSpec

_ACTION_RE = re.compile(r"```(?:text)?[ \t]*\n(.*?)\n?```", re.DOTALL)

_THOUGHTS = {
    "navigation": ("I need to get to the right place before I can act.",
                   "The next thing to do is move on; the target is elsewhere.",
                   "Let me go where the task's objects are."),
    "manipulation": ("I should interact with the objects here to make progress.",
                     "This object is what the task needs next.",
                     "Now I can use what is in front of me."),
    "critical": ("I am confident this is the object the task is about.",
                 "Time to commit: this is the one to focus on.",
                 "This step decides the task, so I choose carefully."),
}


def parse_action(content: str) -> str | None:
  """The action inside the last fenced block of a message, or None."""
  found = _ACTION_RE.findall(content or "")
  if not found:
    return None
  action = found[-1].strip()
  return action or None


def stable_hash(text: str) -> int:
  """A process-independent 32-bit hash (Python's hash() is salted)."""
  return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def _rng(episode_seed: int, turn: int, model_name: str) -> np.random.Generator:
  return np.random.default_rng([episode_seed & 0xFFFFFFFF, turn, stable_hash(model_name)])


def replay(messages: Sequence[Message], gold: Sequence[str], model_name: str,
           error_text: str) -> tuple[int, bool, int]:
  """Reads the history: (gold actions executed in order so far, whether this
  model's own last action erred, number of error observations so far)."""
  p = n_errors = 0
  own_last_erred = False
  for i, m in enumerate(messages):
    if m.get("role") != "assistant":
      continue
    nxt = messages[i + 1].get("content", "") if i + 1 < len(messages) else ""
    errored = error_text in nxt
    # A gold action the environment rejected (e.g. an answer to a question that an
    # intervening action cancelled) did not happen: the agent will try it again.
    on_path = (p < len(gold) and not errored
               and parse_action(m.get("content", "")) == gold[p])
    p += on_path
    n_errors += errored
    if m.get("model_name") == model_name:
      own_last_erred = errored or not on_path
  return p, own_last_erred, n_errors


def _garble(action: str, rng: np.random.Generator) -> str:
  """An unparseable variant of an action, the way LLMs get commands wrong."""
  words = action.split()
  form = rng.integers(4)
  if form == 0 and len(words) > 1:           # drop a word
    del words[int(rng.integers(len(words)))]
    out = " ".join(words)
  elif form == 1:                            # wordy paraphrase
    out = f"I will now {action} carefully"
  elif form == 2 and words:                  # misspelt object
    w = words[-1]
    out = " ".join(words[:-1] + [w[::-1] if len(w) > 2 else w + "x"])
  else:                                      # invented verb
    out = "examine closely " + (words[-1] if words else "room")
  return out if out != action else out + " now"


def _completion_tokens(model: ModelSpec, rng: np.random.Generator, floor: int) -> int:
  ct = model.profile.completion_tokens
  draw = ct.mean * math.exp(ct.spread * rng.standard_normal() - ct.spread ** 2 / 2)
  return max(int(round(draw)), floor)


class SimulatedBackend:
  """The backend for pool entries with `backend: simulated`."""

  def p_correct(self, model: ModelSpec, kind: str, ctx: TurnContext,
                own_last_erred: bool, n_errors: int) -> float:
    prof = model.profile
    s = min(max(prof.skill[kind], 1e-6), 1 - 1e-6)
    logit = math.log(s / (1 - s))
    logit += prof.family_bias.get(ctx.task_family, 0.0)
    logit -= prof.context_decay * max(0, ctx.prompt_tokens - prof.context_free_tokens) / 1000
    logit -= prof.stickiness * own_last_erred
    logit -= prof.history_error_penalty * min(n_errors, 3)
    return 1.0 / (1.0 + math.exp(-logit))

  def choose_action(self, messages: Sequence[Message], model: ModelSpec,
                    ctx: TurnContext, rng: np.random.Generator) -> tuple[str, str, str]:
    """(action, step kind, outcome) where outcome is correct|invalid|wasted|wrong_focus."""
    gold = ctx.gold_actions
    p, own_last_erred, n_errors = replay(messages, gold, model.name, ctx.error_text)
    if p >= len(gold):  # gold path exhausted without the episode ending
      if ctx.wasted_actions:
        return str(rng.choice(ctx.wasted_actions)), "navigation", "wasted"
      return _garble(gold[-1] if gold else "look around", rng), "navigation", "invalid"
    target = gold[p]
    kind = ctx.step_kind(target)
    u = rng.random()
    if u < self.p_correct(model, kind, ctx, own_last_erred, n_errors):
      return target, kind, "correct"
    prof = model.profile
    if kind == "critical" and rng.random() < prof.wrong_focus:
      wrong = ctx.wrong_critical_action(target, rng)
      if wrong is not None:
        return wrong, kind, "wrong_focus"
    forms = sorted(prof.failure_mix)
    w = np.array([prof.failure_mix[f] for f in forms], dtype=float)
    form = forms[int(rng.choice(len(forms), p=w / w.sum()))]
    if form == "wasted" and ctx.wasted_actions:
      return str(rng.choice(ctx.wasted_actions)), kind, "wasted"
    return _garble(target, rng), kind, "invalid"

  def complete(self, messages: list[Message], model: ModelSpec,
               ctx: TurnContext) -> Completion:
    if model.profile is None:
      raise ValueError(f"model {model.name!r} has no simulated profile")
    rng = _rng(ctx.episode_seed, ctx.turn, model.name)
    action, kind, outcome = self.choose_action(messages, model, ctx, rng)
    thought = _THOUGHTS[kind][int(rng.integers(len(_THOUGHTS[kind])))]
    content = f"THOUGHT: {thought}\n\n```text\n{action}\n```"
    completion = _completion_tokens(model, rng, floor=len(content) // 4 + 1)
    return Completion(
        content=content, prompt_tokens=ctx.prompt_tokens,
        completion_tokens=completion,
        cost=model.cost(ctx.prompt_tokens, completion), model=model.name,
        extra={"simulated": {"outcome": outcome, "step_kind": kind}})
