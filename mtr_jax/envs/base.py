"""The small interface every text environment of the testbed implements."""

from __future__ import annotations

import dataclasses
from typing import Protocol, Sequence


class EnvironmentError_(RuntimeError):
  """The environment itself failed (crashed JVM, bad task name, ...)."""


@dataclasses.dataclass(frozen=True)
class TaskRef:
  """One episode's task: a task (or game) name and a variation (or seed)."""

  task: str
  variation: int


@dataclasses.dataclass(frozen=True)
class StepResult:
  observation: str
  score: float  # on the environment's scale, -100..100 for both environments
  done: bool


class Environment(Protocol):
  """A multi-turn text environment with gold action sequences.

  Scores are reported on a -100..100 scale (ScienceWorld's own; TextWorld-Express's
  normalised score is multiplied by 100 and a failed task is -100), so that
  S_norm = (score + 100) / 200 works for both.
  """

  name: str             # "scienceworld" | "twx"
  error_text: str       # what the environment answers to an unparseable action

  def reset(self, task: str, variation: int) -> tuple[str, str]:
    """Loads a task variation; returns (task description, initial observation)."""

  def step(self, action: str) -> StepResult:
    """Executes one action."""

  @property
  def score(self) -> float: ...

  @property
  def done(self) -> bool: ...

  def gold_actions(self) -> list[str]:
    """The gold action sequence of the loaded variation (from its start state)."""

  def task_family(self, task: str) -> str:
    """A coarse family of the task (models specialise by family)."""

  def step_kind(self, action: str) -> str:
    """'navigation', 'manipulation' or 'critical' (a wrong one ends the episode)."""

  def wasted_actions(self) -> Sequence[str]:
    """Valid actions that do not change the task state (a simulated agent's
    'wasted' failure draws from these)."""

  def wrong_critical_action(self, gold_action: str, rng) -> str | None:
    """A plausible wrong version of a critical gold action that the environment
    accepts and that fails the task (a wrong `focus on`), or None if the
    environment has no such action."""

  def close(self) -> None: ...
