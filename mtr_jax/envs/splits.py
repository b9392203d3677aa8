"""Task splits: which (task, variation) pairs are train / val / test_id / ood.

ScienceWorld (the paper's split, SPEC section 7):
  - 13 in-distribution tasks (TRAIN_TASKS) and 12 held-out tasks (OOD_TASKS);
    the other 5 ScienceWorld tasks are in no split.
  - Variations of a task: ids = list(range(num_variations(task))) (the real
    counts, from scienceworld_variations.json, i.e. ScienceWorld's own
    getTaskMaxVariations); random.Random(42).shuffle(ids) with a fresh
    Random(42) per task; keep ids[:30]. ScienceWorld's own train/dev/test
    variation folds are ignored, as in the paper.
  - For a train task with n kept ids: n_train = round(0.6 n), n_val = round(0.2 n),
    test_id = the rest, taken in that shuffled order (30 -> 18/6/6;
    identify-life-stages-1, 14 -> 8/3/3; power-component, 20 -> 12/4/4).
    This gives 218 train, 73 val, 73 test_id refs.
  - ood: every kept id of every OOD task (30 each, but identify-life-stages-2
    has 10 and power-component-renewable-vs-nonrenewable-energy 20): 330.

TextWorld-Express (our analogue; the variation is the game seed):
  - in distribution: cookingworld, coin, mapreader, sorting, twc; held out (ood):
    arithmetic, simonsays, peckingorder.
  - seeds 0..29 per game, shuffled with a fresh random.Random(42), split 60/20/20
    (18/6/6) for in-distribution games; ood = all 30 seeds of the held-out games.
  - Seeds 0..29 all fall in TWX's 'train' game fold (the env maps seeds < 10000 to
    'train', 10000..19999 to 'dev', >= 20000 to 'test'): like the paper's
    ScienceWorld split, ours ignores the environment's own folds, so val and
    test_id draw objects from the same distribution as train.

Within a task the refs keep the shuffled order (so "the first k" is a random k);
tasks come in the order of the lists below.
"""

from __future__ import annotations

import random

from mtr_jax.envs.base import TaskRef

SPLITS = ("train", "val", "test_id", "ood")
MAX_VARIATIONS = 30
SHUFFLE_SEED = 42

TRAIN_TASKS: tuple[str, ...] = (
    "boil", "melt", "chemistry-mix", "find-animal", "find-plant", "grow-plant",
    "identify-life-stages-1", "lifespan-longest-lived", "inclined-plane-determine-angle",
    "measure-melting-point-known-substance", "power-component", "test-conductivity",
    "mendelian-genetics-known-plant")

OOD_TASKS: tuple[str, ...] = (
    "freeze", "change-the-state-of-matter-of", "chemistry-mix-paint-secondary-color",
    "find-non-living-thing", "grow-fruit", "identify-life-stages-2",
    "lifespan-shortest-lived", "inclined-plane-friction-unnamed-surfaces", "use-thermometer",
    "power-component-renewable-vs-nonrenewable-energy",
    "test-conductivity-of-unknown-substances", "mendelian-genetics-unknown-plant")

TWX_ID_GAMES: tuple[str, ...] = ("cookingworld", "coin", "mapreader", "sorting", "twc")
TWX_OOD_GAMES: tuple[str, ...] = ("arithmetic", "simonsays", "peckingorder")
TWX_SEEDS = 30


def shuffled_ids(n: int, limit: int = MAX_VARIATIONS) -> list[int]:
  """range(n) shuffled by a fresh random.Random(42), first `limit` kept."""
  ids = list(range(n))
  random.Random(SHUFFLE_SEED).shuffle(ids)
  return ids[:limit]


def partition(ids: list[int]) -> dict[str, list[int]]:
  """60/20/20 in order: {'train', 'val', 'test_id'}."""
  n = len(ids)
  n_train = int(round(0.6 * n))
  n_val = int(round(0.2 * n))
  return {"train": ids[:n_train], "val": ids[n_train:n_train + n_val],
          "test_id": ids[n_train + n_val:]}


def scienceworld_variations(task: str) -> list[int]:
  """The <= 30 variation ids of a ScienceWorld task used by the splits."""
  from mtr_jax.envs.scienceworld import num_variations
  return shuffled_ids(num_variations(task))


def _check_split(split: str) -> None:
  if split not in SPLITS:
    raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")


def split_tasks(env_name: str, split: str) -> list[TaskRef]:
  """The task refs of a split: env_name 'scienceworld' | 'twx', split in SPLITS."""
  _check_split(split)
  if env_name == "scienceworld":
    in_dist, held_out = TRAIN_TASKS, OOD_TASKS
    ids_of = scienceworld_variations
  elif env_name == "twx":
    in_dist, held_out = TWX_ID_GAMES, TWX_OOD_GAMES
    ids_of = lambda game: shuffled_ids(TWX_SEEDS)  # noqa: E731
  else:
    raise ValueError(f"unknown environment {env_name!r}; expected 'scienceworld' or 'twx'")
  if split == "ood":
    return [TaskRef(t, v) for t in held_out for v in ids_of(t)]
  return [TaskRef(t, v) for t in in_dist for v in partition(ids_of(t))[split]]
