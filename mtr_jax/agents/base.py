"""What a model backend (simulated agent or real endpoint) looks like to the loop."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Protocol, Sequence

from mtr_jax.pool import ModelSpec

Message = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class TurnContext:
  """What the loop knows about the current turn.

  A real endpoint only needs the messages; a simulated agent also reads the gold
  action sequence and the environment's step classification (it is the stand-in
  for an LLM that knows how to solve the task, with a model-specific error rate).
  """

  episode_seed: int
  turn: int                          # 0-based index of the assistant message
  task: str
  task_family: str
  gold_actions: Sequence[str]
  step_kind: Callable[[str], str]
  wasted_actions: Sequence[str]
  wrong_critical_action: Callable[[str, Any], str | None]
  error_text: str
  prompt_tokens: int                 # tokens of the whole message list, counted once


@dataclasses.dataclass
class Completion:
  """One model call's result. `error` set means the call failed (after retries)."""

  content: str
  prompt_tokens: int
  completion_tokens: int
  cost: float
  model: str
  error: str | None = None
  extra: dict[str, Any] = dataclasses.field(default_factory=dict)


class Backend(Protocol):

  def complete(self, messages: list[Message], model: ModelSpec,
               ctx: TurnContext) -> Completion: ...


class BackendError(RuntimeError):
  """A model call failed for good (retries exhausted, bad response)."""
