"""ScienceWorld (30 science tasks, 7,207 variations) behind the testbed protocol.

One `ScienceWorldEnv` owns one JVM; create it once per process and call `reset`
for every episode. Semantics:

- reset(task, variation): loads the variation, then takes the free action
  'look around'; returns (task description, that observation) - the same
  first observation `scienceworld.ScienceWorldEnv.reset` gives.
- step: the fast path `server.step(action)` + `getScore()` + `getCompleted()`
  (4-20 ms: 47-255 steps/s by task, ~96 overall, in the deterministic JVM;
  `scienceworld.ScienceWorldEnv.step` also lists every valid action each step,
  ~75 ms and more). Score is ScienceWorld's own, int(round(100 * raw)),
  -100..100; done = completed or score < 0 (a wrong `focus on` gives -100,
  which ScienceWorld's own step also treats as done). No step limit here (the
  agent loop has one; ScienceWorld's wrapper defaults to 100). After done the
  simulator is not stepped again: the result is frozen.
- gold_actions(): ScienceWorld's gold path for the variation, from the state
  after reset's 'look around' (which is not part of it). The gold agent looks
  around on entering a room, so 'look around' recurs in it, and it starts with
  one when the agent already starts in the right room (~8% of the split
  variations, e.g. find-plant 106); waits ('wait1', 'wait') occur in some
  tasks. 248 of the 694 split gold paths are longer than 50 actions (all of
  mendelian-genetics-* ~145, inclined-plane-* 53-231, grow-fruit 75-103,
  grow-plant 60-75; part of boil/freeze/melt/...); most continue a little
  after the task is complete (trailing 'wait1'/'look around'; the episode is
  done before they are needed).
  ScienceWorld's gold agent picks at random among equally good choices (which
  plant to focus on...) and, for some tasks (e.g. freeze), depends on what the
  JVM loaded before, even in deterministic mode. The gold paths of every split
  variation are therefore fixed in scienceworld_gold.json.gz (built and
  replayed by build_scienceworld_data.py; all reach 100 except freeze 11 and
  19, where ScienceWorld's gold agent itself fails: see unsolved_gold()); the
  cache also spares the gold-path generation (7-35 s a load for
  mendelian-genetics-*). Other variations get a live, memoised gold path.
- determinism: with the deterministic JVM (default, see _jvm.py) every
  observation and score is a pure function of (task, variation, actions), in
  any process and whatever was loaded before (checked on bee/plant tasks);
  without it, e.g. bees move differently on each load.
- step kinds: 'critical' = `focus on ...`; 'navigation' = go to / teleport to /
  open|close door to / look around / look / inventory / task; anything else
  'manipulation'.
- wasted_actions: 'look around', 'inventory', 'task' - free actions (no
  simulation tick, score unchanged; checked by the tests).
- wrong_critical_action: a `focus on Y`, Y another currently visible object
  (server.getPossibleObjects, doors/rooms/agent/air tried last), verified to end
  the episode at -100 by replaying the episode (load + the actions so far +
  the candidate) and then restoring it the same way (0.1-2 s a call, results
  memoised). None where no visible object qualifies: in grow-plant a wrong
  focus does not fail the task, in find-non-living-thing every visible object
  may be right.
"""

from __future__ import annotations

import gzip
import json
import os
from typing import Sequence

import numpy as np

from mtr_jax.envs._jvm import (DETERMINISTIC_JVM_OPTIONS, JavaServer, JvmEnvironment,
                              UnknownTaskError, call)
from mtr_jax.envs.base import EnvironmentError_, StepResult

_HERE = os.path.dirname(os.path.abspath(__file__))
VARIATIONS_FILE = os.path.join(_HERE, "scienceworld_variations.json")
GOLD_FILE = os.path.join(_HERE, "scienceworld_gold.json.gz")

ERROR_TEXT = "No known action matches that input."

# A coarse topic per task (models specialise by family).
TASK_FAMILIES: dict[str, str] = {
    "boil": "matter",
    "melt": "matter",
    "freeze": "matter",
    "change-the-state-of-matter-of": "matter",
    "use-thermometer": "matter",
    "measure-melting-point-known-substance": "matter",
    "measure-melting-point-unknown-substance": "matter",
    "find-animal": "biology",
    "find-living-thing": "biology",
    "find-non-living-thing": "biology",
    "find-plant": "biology",
    "grow-plant": "biology",
    "grow-fruit": "biology",
    "identify-life-stages-1": "biology",
    "identify-life-stages-2": "biology",
    "lifespan-longest-lived": "biology",
    "lifespan-longest-lived-then-shortest-lived": "biology",
    "lifespan-shortest-lived": "biology",
    "chemistry-mix": "chemistry",
    "chemistry-mix-paint-secondary-color": "chemistry",
    "chemistry-mix-paint-tertiary-color": "chemistry",
    "power-component": "electricity",
    "power-component-renewable-vs-nonrenewable-energy": "electricity",
    "test-conductivity": "electricity",
    "test-conductivity-of-unknown-substances": "electricity",
    "inclined-plane-determine-angle": "forces",
    "inclined-plane-friction-named-surfaces": "forces",
    "inclined-plane-friction-unnamed-surfaces": "forces",
    "mendelian-genetics-known-plant": "genetics",
    "mendelian-genetics-unknown-plant": "genetics",
}

TASKS: tuple[str, ...] = tuple(sorted(TASK_FAMILIES))

WASTED_ACTIONS: tuple[str, ...] = ("look around", "inventory", "task")

_NAVIGATION_PREFIXES = ("go to ", "teleport to ", "open door to ", "close door to ")
_NAVIGATION_EXACT = {"look around", "look", "inventory", "task"}
# Places of the ScienceWorld house; never plausible focus targets.
_LOCATIONS = {"art studio", "bathroom", "bedroom", "foundry", "greenhouse", "hallway",
              "kitchen", "living room", "outside", "workshop"}

_variations_cache: dict[str, int] | None = None
_gold_cache: dict[tuple[str, int], tuple[str, ...]] | None = None
_unsolved: dict[tuple[str, int], float] | None = None


def _unknown_task(task: str) -> UnknownTaskError:
  return UnknownTaskError(f"scienceworld: unknown task {task!r}; known tasks: {', '.join(TASKS)}")


def num_variations(task: str) -> int:
  """Number of variations of a task (from the committed JSON, no JVM)."""
  global _variations_cache
  if _variations_cache is None:
    try:
      with open(VARIATIONS_FILE) as f:
        _variations_cache = dict(json.load(f)["num_variations"])
    except FileNotFoundError as e:
      raise EnvironmentError_(
          f"scienceworld: {VARIATIONS_FILE} is missing; rebuild it with "
          "`python -m mtr_jax.envs.build_scienceworld_data`") from e
  if task not in _variations_cache:
    raise _unknown_task(task)
  return _variations_cache[task]


def task_family(task: str) -> str:
  try:
    return TASK_FAMILIES[task]
  except KeyError:
    raise _unknown_task(task) from None


def step_kind(action: str) -> str:
  a = " ".join(action.strip().lower().split())
  if a.startswith("focus on"):
    return "critical"
  if a in _NAVIGATION_EXACT or a.startswith(_NAVIGATION_PREFIXES):
    return "navigation"
  return "manipulation"


def _read_gold_file() -> None:
  global _gold_cache, _unsolved
  _gold_cache, _unsolved = {}, {}
  if os.path.exists(GOLD_FILE):
    with gzip.open(GOLD_FILE, "rt") as f:
      data = json.load(f)
    for t, by_var in data["gold"].items():
      for v, actions in by_var.items():
        _gold_cache[(t, int(v))] = tuple(actions)
    for t, by_var in data.get("unsolved", {}).items():
      for v, score in by_var.items():
        _unsolved[(t, int(v))] = float(score)


def cached_gold(task: str, variation: int) -> tuple[str, ...] | None:
  """The committed, verified gold path of a variation, or None if not cached."""
  if _gold_cache is None:
    _read_gold_file()
  return _gold_cache.get((task, variation))


def unsolved_gold() -> dict[tuple[str, int], float]:
  """Cached variations whose best known gold path does not reach 100: the score
  it reaches (ScienceWorld's gold agent fails them)."""
  if _unsolved is None:
    _read_gold_file()
  return dict(_unsolved)


class ScienceWorldEnv(JvmEnvironment):
  """ScienceWorld through its fast path; see the module docstring."""

  name = "scienceworld"
  error_text = ERROR_TEXT
  tasks = TASKS

  def __init__(self, *, deterministic: bool = True, use_gold_cache: bool = True,
               max_wrong_focus_attempts: int = 6, jvm_options: Sequence[str] = ()):
    """deterministic: start the JVM with the options of _jvm.py (exact replays).
    use_gold_cache: take gold paths from scienceworld_gold.json.gz when present.
    max_wrong_focus_attempts: candidates verified per wrong_critical_action call.
    jvm_options: extra JVM options, e.g. ('-Xmx1g',) to cap the heap.
    """
    from scienceworld.constants import BASEPATH, JAR_PATH

    self._jvm = JavaServer(
        "scienceworld", JAR_PATH, BASEPATH,
        lambda jvm: jvm.scienceworld.runtime.pythonapi.PythonInterface(),
        javaopts=(DETERMINISTIC_JVM_OPTIONS if deterministic else ()) + tuple(jvm_options))
    self._server = self._jvm.server
    self.deterministic = deterministic
    self.use_gold_cache = use_gold_cache
    self.max_wrong_focus_attempts = max_wrong_focus_attempts
    self._gold_memo: dict[tuple[str, int], tuple[str, ...]] = {}
    self._verified: dict[tuple, bool] = {}
    self._task: str | None = None
    self._variation = -1
    self._gold: tuple[str, ...] = ()
    self._history: list[str] = []
    self._score = 0.0
    self._done = False

  # -- protocol ---------------------------------------------------------------

  def reset(self, task: str, variation: int) -> tuple[str, str]:
    n = num_variations(task)  # raises for an unknown task
    if not isinstance(variation, (int, np.integer)) or not 0 <= int(variation) < n:
      raise UnknownTaskError(
          f"scienceworld: task {task!r} has variations 0..{n - 1}, got {variation!r}")
    variation = int(variation)
    key = (task, variation)
    gold = (cached_gold(task, variation) if self.use_gold_cache else None) \
        or self._gold_memo.get(key)
    if gold is None:
      self._load(task, variation, gold_path=True)
      gold = tuple(str(a) for a in call("scienceworld", self._server.getGoldActionSequence))
      self._gold_memo[key] = gold
    else:
      self._load(task, variation, gold_path=False)
    self._task, self._variation, self._gold = task, variation, gold
    self._history, self._score, self._done = [], 0.0, False
    observation = self._raw_step("look around")
    self._history.append("look around")
    description = str(call("scienceworld", self._server.getTaskDescription))
    return description, observation

  def step(self, action: str) -> StepResult:
    self._require_loaded()
    if self._done:
      return StepResult("The task is over.", self._score, True)
    action = action.strip()
    observation = self._raw_step(action)
    self._history.append(action)
    self._score = self._read_score()
    completed = bool(call("scienceworld", self._server.getCompleted))
    self._done = completed or self._score < 0
    return StepResult(observation, self._score, self._done)

  @property
  def score(self) -> float:
    return self._score

  @property
  def done(self) -> bool:
    return self._done

  def gold_actions(self) -> list[str]:
    self._require_loaded()
    return list(self._gold)

  def task_family(self, task: str) -> str:
    return task_family(task)

  def step_kind(self, action: str) -> str:
    return step_kind(action)

  def wasted_actions(self) -> Sequence[str]:
    return WASTED_ACTIONS

  def wrong_critical_action(self, gold_action: str, rng) -> str | None:
    """A visible object's `focus on` that is verified to end the task at -100."""
    self._require_loaded()
    gold = " ".join(gold_action.strip().split())
    if self._done or not gold.lower().startswith("focus on "):
      return None
    target = gold[len("focus on "):]
    objects = sorted({str(o) for o in call("scienceworld", self._server.getPossibleObjects)})
    plausible = [o for o in objects if o != target and not _scenery(o)]
    scenery = [o for o in objects if o != target and _scenery(o)]
    rng = rng if rng is not None else np.random.default_rng(0)
    ordered = [plausible[i] for i in rng.permutation(len(plausible))]
    ordered += [scenery[i] for i in rng.permutation(len(scenery))]
    touched, found = False, None
    for obj in ordered[:self.max_wrong_focus_attempts]:
      candidate = f"focus on {obj}"
      key = (self._task, self._variation, tuple(self._history), candidate)
      fails = self._verified.get(key)
      if fails is None:
        touched = True
        self._replay(self._history + [candidate])
        fails = self._read_score() <= -100
        if len(self._verified) >= 10_000:
          self._verified.clear()
        self._verified[key] = fails
      if fails:
        found = candidate
        break
    if touched:  # put the simulator back where the episode is
      self._replay(self._history)
    return found

  # -- helpers ----------------------------------------------------------------

  def _require_loaded(self) -> None:
    if self._task is None:
      raise EnvironmentError_("scienceworld: call reset(task, variation) first")

  def _load(self, task: str, variation: int, gold_path: bool) -> None:
    msg = call("scienceworld", self._server.load, task, variation, "", gold_path)
    if msg:
      raise EnvironmentError_(f"scienceworld: loading {task!r} variation {variation}: {msg}")

  def _raw_step(self, action: str) -> str:
    return str(call("scienceworld", self._server.step, action))

  def _read_score(self) -> float:
    return float(int(round(100 * float(call("scienceworld", self._server.getScore)))))

  def _replay(self, actions: Sequence[str]) -> None:
    self._load(self._task, self._variation, gold_path=False)
    for a in actions:
      self._raw_step(a)


def _scenery(obj: str) -> bool:
  return obj in _LOCATIONS or obj in ("agent", "air") or "door" in obj.split()
