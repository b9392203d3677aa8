"""TextWorld-Express (8 games, ~1 ms a step) behind the testbed protocol.

One `TextWorldExpressEnv` owns one JVM; reuse it across `reset` calls.
reset(task, variation): task = game name, variation = game seed (>= 0). The game
fold follows TWX's own seed ranges: seeds < 10000 -> 'train', 10000..19999 ->
'dev', >= 20000 -> 'test' (TWX lists train 0-999, dev 10000-10999, test
20000-20999); the fold chooses the object sets of e.g. twc and cookingworld.

Game parameters (GAME_PARAMS, fixed per game; small so CI and sweeps are fast;
gold lengths over seeds 0..29 in brackets):
  cookingworld  2 rooms, 2 ingredients, 2 distractors, no doors   [11-17]
  twc           2 rooms, 3 items to put away, no doors            [9-12]
  coin          4 rooms, 2 distractors, doors                     [2-20]
  mapreader     6 rooms, coin <= 3 rooms away, <= 1 distractor    [7-11]
  arithmetic, sorting, peckingorder: no parameters                [5, 6-10, 9]
  simonsays     5 commands, 3 distractor actions, no memorisation [5]

Score: 100 * TWX's normalised score; -100 when TWX reports taskFailure.
done: success, failure, or normalised score >= 1. No step limit here. After
done the simulator is not stepped again (the result is frozen).

Gold paths (env.getGoldActionSequence, from generateGoldPath=True) are returned
as TWX gives them: all games but sorting and simonsays start with 'look around'
(the observation reset returns already is that look; the action is harmless);
mapreader's contain 'task' and 'read map'; coin/twc/cookingworld paths come from
a random-walk gold agent and wander; every twc path goes on (a 'move') after the
game is won. Games are a function of the seed, and so are the gold paths, except
coin's: its random walk is unseeded and differs on every reset. The gold paths
of the split seeds (240) are therefore fixed in twx_gold.json.gz (built and
checked to win by build_twx_data.py, valid for the GAME_PARAMS below); other
seeds get TWX's live gold path.

Step kinds. 'navigation': move/go (to), open/close door to, look around,
inventory, task. 'critical' (a wrong one can end the game with taskFailure,
found by trying every valid alternative along gold paths):
  cookingworld  slice/dice/chop/cook/eat (a wrong preparation or eating an
                ingredient fails the game)
  arithmetic    put (the answer goes in the box; at the gold put the only wrong
                one the game accepts is 'put math problem in box')
  sorting       take (a wrong order only fails at the put, which needs the wrong
                item in hand; the one single action that fails is taking an
                item back out of the box, so the first take has no wrong one)
  peckingorder  take (out of order fails)
  simonsays     every action (any action but Simon's fails)
  twc, coin, mapreader: nothing can fail; no critical steps.
Everything else is 'manipulation'. step_kind uses the game loaded by reset.

wasted_actions (verified harmless: score unchanged, gold path still wins):
'look around', 'inventory' (+ 'task' in mapreader); none in simonsays, where
every valid action other than Simon's fails the game.

wrong_critical_action: a currently valid action of the same kind as the gold
critical action (same object first), verified by replay (new game + the actions
so far + the candidate) to fail the game, after which the game is replayed back.
error_text: TWX's answer to an unparseable action.
"""

from __future__ import annotations

import gzip
import json
import os
from typing import Sequence

import numpy as np

from mtr_jax.envs._jvm import JavaServer, JvmEnvironment, UnknownTaskError, call
from mtr_jax.envs.base import EnvironmentError_, StepResult

ERROR_TEXT = "Unknown action: I'm not sure what you mean."
GOLD_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "twx_gold.json.gz")

GAME_PARAMS: dict[str, str] = {
    "cookingworld": "numLocations=2,numIngredients=2,numDistractorItems=2,includeDoors=0,"
                    "limitInventorySize=0",
    "twc": "numLocations=2,numItemsToPutAway=3,includeDoors=0,limitInventorySize=0",
    "coin": "numLocations=4,numDistractorItems=2,includeDoors=1,limitInventorySize=0",
    "mapreader": "numLocations=6,maxDistanceApart=3,maxDistractorItemsPerLocation=1,"
                 "includeDoors=0,limitInventorySize=0",
    "arithmetic": "",
    "sorting": "",
    "simonsays": "gameLength=5,numDistractors=3,memorization=0",
    "peckingorder": "",
}
GAMES: tuple[str, ...] = tuple(GAME_PARAMS)

GAME_FAMILIES: dict[str, str] = {
    "cookingworld": "instruction",
    "simonsays": "instruction",
    "peckingorder": "instruction",
    "twc": "commonsense",
    "coin": "exploration",
    "mapreader": "exploration",
    "arithmetic": "reasoning",
    "sorting": "reasoning",
}

ALL = "*"
CRITICAL_VERBS: dict[str, frozenset[str] | str] = {
    "cookingworld": frozenset({"slice", "dice", "chop", "cook", "eat"}),
    "arithmetic": frozenset({"put"}),
    "sorting": frozenset({"take"}),
    "peckingorder": frozenset({"take"}),
    "simonsays": ALL,
}

_WASTED = ("look around", "inventory")
WASTED_ACTIONS: dict[str, tuple[str, ...]] = {
    **{g: _WASTED for g in GAMES}, "mapreader": _WASTED + ("task",), "simonsays": ()}

_NAVIGATION_PREFIXES = ("move ", "go ", "open door to ", "close door to ")
_NAVIGATION_EXACT = {"look around", "inventory", "task"}
_PREP_VERBS = frozenset({"slice", "dice", "chop"})


_gold_cache: dict[tuple[str, int], tuple[str, ...]] | None = None


def cached_gold(game: str, seed: int) -> tuple[str, ...] | None:
  """The committed gold path of a split seed (None if absent or if the game's
  parameters changed since the cache was built)."""
  global _gold_cache
  if _gold_cache is None:
    _gold_cache = {}
    if os.path.exists(GOLD_FILE):
      with gzip.open(GOLD_FILE, "rt") as f:
        data = json.load(f)
      for g, by_seed in data["gold"].items():
        if data["params"].get(g) == GAME_PARAMS.get(g):
          for v, actions in by_seed.items():
            _gold_cache[(g, int(v))] = tuple(actions)
  return _gold_cache.get((game, seed))


def fold_of(seed: int) -> str:
  return "train" if seed < 10_000 else "dev" if seed < 20_000 else "test"


def _unknown_game(game: str) -> UnknownTaskError:
  return UnknownTaskError(f"twx: unknown game {game!r}; known games: {', '.join(GAMES)}")


def task_family(game: str) -> str:
  try:
    return GAME_FAMILIES[game]
  except KeyError:
    raise _unknown_game(game) from None


def _norm(action: str) -> str:
  return " ".join(action.strip().lower().split())


def step_kind(action: str, game: str | None = None) -> str:
  """The kind of an action in a game (no game: never 'critical')."""
  a = _norm(action)
  critical = CRITICAL_VERBS.get(game, frozenset()) if game else frozenset()
  if critical == ALL or (a.split(" ", 1)[0] if a else "") in critical:
    return "critical"
  if a in _NAVIGATION_EXACT or a.startswith(_NAVIGATION_PREFIXES):
    return "navigation"
  return "manipulation"


class TextWorldExpressEnv(JvmEnvironment):
  """TextWorld-Express through its server's JSON calls; see the module docstring."""

  name = "twx"
  error_text = ERROR_TEXT
  tasks = GAMES

  def __init__(self, *, use_gold_cache: bool = True, max_wrong_attempts: int = 10,
               jvm_options: Sequence[str] = ()):
    """use_gold_cache: take the gold paths of split seeds from twx_gold.json.gz.
    max_wrong_attempts: candidates verified per wrong_critical_action call.
    jvm_options: extra JVM options, e.g. ('-Xmx512m',)."""
    from textworld_express.constants import BASEPATH, JAR_PATH

    self._jvm = JavaServer("twx", JAR_PATH, BASEPATH,
                           lambda jvm: jvm.textworldexpress.runtime.PythonInterface(),
                           javaopts=tuple(jvm_options))
    self._server = self._jvm.server
    self.use_gold_cache = use_gold_cache
    self.max_wrong_attempts = max_wrong_attempts
    self._loaded_game: str | None = None
    self._game: str | None = None
    self._seed = -1
    self._gold: tuple[str, ...] = ()
    self._history: list[str] = []
    self._valid: list[str] = []
    self._score = 0.0
    self._done = False

  # -- protocol ---------------------------------------------------------------

  def reset(self, task: str, variation: int) -> tuple[str, str]:
    if task not in GAME_PARAMS:
      raise _unknown_game(task)
    if not isinstance(variation, (int, np.integer)) or int(variation) < 0:
      raise UnknownTaskError(f"twx: the variation is the game seed, an int >= 0; got {variation!r}")
    seed = int(variation)
    if self._loaded_game != task:
      msg = call("twx", self._server.load, task, GAME_PARAMS[task])
      if msg:
        raise EnvironmentError_(f"twx: loading {task!r} ({GAME_PARAMS[task]!r}): {msg}")
      self._loaded_game = task
    gold = cached_gold(task, seed) if self.use_gold_cache else None
    r = self._new_game(task, seed, gold_path=gold is None)
    if gold is None:
      gold = tuple(str(a) for a in call("twx", self._server.getGoldActionSequence))
    self._gold = gold
    self._game, self._seed = task, seed
    self._history, self._score, self._done = [], 0.0, False
    self._valid = list(r["validActions"])
    return str(call("twx", self._server.getTaskDescription)), r["observation"]

  def step(self, action: str) -> StepResult:
    self._require_loaded()
    if self._done:
      return StepResult("The task is over.", self._score, True)
    action = action.strip()
    r = self._raw_step(action)
    self._history.append(action)
    self._valid = list(r["validActions"])
    failed = bool(r["taskfailure"])
    self._score = -100.0 if failed else round(100.0 * float(r["score"]), 4)
    self._done = failed or bool(r["tasksuccess"]) or float(r["score"]) >= 1.0
    return StepResult(r["observation"], self._score, self._done)

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
    return step_kind(action, self._game)

  def wasted_actions(self) -> Sequence[str]:
    return WASTED_ACTIONS[self._game] if self._game else _WASTED

  def wrong_critical_action(self, gold_action: str, rng) -> str | None:
    """A valid action like the gold critical one, verified to fail the game."""
    self._require_loaded()
    if self._done or self.step_kind(gold_action) != "critical":
      return None
    gold = _norm(gold_action)
    verb, _, obj = gold.partition(" ")
    valid = sorted({v for v in self._valid if _norm(v) != gold})
    if CRITICAL_VERBS[self._game] == ALL:
      same_kind = valid
    else:
      verbs = _PREP_VERBS if verb in _PREP_VERBS else {verb}
      same_kind = [v for v in valid if _norm(v).split(" ", 1)[0] in verbs]
    subject = obj.split(" in ")[0]
    near = [v for v in same_kind if subject and subject in _norm(v)]
    far = [v for v in same_kind if v not in near]
    rng = rng if rng is not None else np.random.default_rng(0)
    ordered = [near[i] for i in rng.permutation(len(near))]
    ordered += [far[i] for i in rng.permutation(len(far))]
    found = None
    for candidate in ordered[:self.max_wrong_attempts]:
      if self._replay(self._history + [candidate])["taskfailure"]:
        found = candidate
        break
    if ordered:  # back to where the episode is
      self._valid = list(self._replay(self._history)["validActions"])
    return found

  # -- helpers ----------------------------------------------------------------

  def _require_loaded(self) -> None:
    if self._game is None:
      raise EnvironmentError_("twx: call reset(game, seed) first")

  def _new_game(self, game: str, seed: int, gold_path: bool) -> dict:
    try:
      return json.loads(call("twx", self._server.generateNewGameJSON, seed, fold_of(seed),
                             gold_path))
    except ValueError as e:  # not JSON
      raise EnvironmentError_(f"twx: bad reply for {game!r} seed {seed}: {e}") from e

  def _raw_step(self, action: str) -> dict:
    try:
      return json.loads(call("twx", self._server.stepJSON, action))
    except ValueError as e:
      raise EnvironmentError_(f"twx: bad reply to {action!r}: {e}") from e

  def _replay(self, actions: Sequence[str]) -> dict:
    r = self._new_game(self._game, self._seed, gold_path=False)
    for a in actions:
      r = self._raw_step(a)
    return r
