"""A tiny deterministic text environment for unit tests and smoke runs.

It mirrors the semantics of the real environments (gold path, partial credit, a
`focus on` step that ends the task at -100 when wrong, an error text for
unparseable actions) in microseconds and without a JVM. Never use it for results.
"""

from __future__ import annotations

from mtr_jax.envs.base import EnvironmentError_, StepResult

_ROOMS = ("kitchen", "hallway", "workshop", "greenhouse")
_OBJECTS = ("thermometer", "beaker", "seed", "battery")


class ToyEnv:
  name = "toy"
  error_text = "No known action matches that input."
  tasks = ("fetch", "plant")

  def __init__(self):
    self._gold: list[str] = []
    self._pos = 0
    self._score = 0.0
    self._done = False

  def reset(self, task: str, variation: int) -> tuple[str, str]:
    if task not in self.tasks:
      raise EnvironmentError_(f"toy: unknown task {task!r} (known: {list(self.tasks)})")
    if not 0 <= variation < 10:
      raise EnvironmentError_(f"toy: task {task!r} has variations 0..9, got {variation}")
    room = _ROOMS[variation % len(_ROOMS)]
    obj = _OBJECTS[(variation + (task == "plant")) % len(_OBJECTS)]
    self._target = obj
    self._gold = [f"go to {room}", f"open cupboard", f"pick up {obj}"]
    self._gold += ["go to hallway"] * (variation % 3)
    self._gold += [f"focus on {obj}"]
    self._pos, self._score, self._done = 0, 0.0, False
    desc = f"Your task is to find the {obj} and focus on it."
    return desc, f"This room is called the entrance. You see a door to the {room}."

  def step(self, action: str) -> StepResult:
    if self._done:
      return StepResult("The task is over.", self._score, True)
    action = action.strip()
    if self._pos < len(self._gold) and action == self._gold[self._pos]:
      self._pos += 1
      self._score = round(100.0 * self._pos / len(self._gold), 6)
      self._done = self._pos == len(self._gold)
      return StepResult(f"You {action}.", self._score, self._done)
    if action.startswith("focus on "):
      self._score, self._done = -100.0, True
      return StepResult("You focus on the wrong thing. The task has failed.", -100.0, True)
    if action in self.wasted_actions():
      return StepResult("Nothing of note happens.", self._score, False)
    return StepResult(self.error_text, self._score, False)

  @property
  def score(self) -> float:
    return self._score

  @property
  def done(self) -> bool:
    return self._done

  def gold_actions(self) -> list[str]:
    return list(self._gold)

  def task_family(self, task: str) -> str:
    return {"fetch": "search", "plant": "biology"}[task]

  def step_kind(self, action: str) -> str:
    if action.startswith("focus on"):
      return "critical"
    if action.startswith("go to"):
      return "navigation"
    return "manipulation"

  def wasted_actions(self):
    return ("look around", "inventory")

  def wrong_critical_action(self, gold_action: str, rng) -> str | None:
    others = [o for o in _OBJECTS if o != self._target]
    return f"focus on {others[int(rng.integers(len(others)))]}"

  def close(self) -> None:
    pass
