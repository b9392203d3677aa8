"""Splits, task families, step kinds and the factory (no JVM needed)."""

from __future__ import annotations

import gzip
import json

import pytest

from mtr_jax.envs import make_env, split_tasks
from mtr_jax.envs import scienceworld as sw
from mtr_jax.envs import twx
from mtr_jax.envs._jvm import UnknownTaskError
from mtr_jax.envs.base import EnvironmentError_, TaskRef
from mtr_jax.envs.splits import (OOD_TASKS, SPLITS, TRAIN_TASKS, TWX_ID_GAMES, TWX_OOD_GAMES,
                                 partition, shuffled_ids)


def test_scienceworld_split_sizes():
  sizes = {s: len(split_tasks("scienceworld", s)) for s in SPLITS}
  assert sizes == {"train": 218, "val": 73, "test_id": 73, "ood": 330}
  assert len(TRAIN_TASKS) == 13 and len(OOD_TASKS) == 12
  assert not set(TRAIN_TASKS) & set(OOD_TASKS)
  assert set(TRAIN_TASKS) | set(OOD_TASKS) <= set(sw.TASKS)
  per_task = {t: sum(r.task == t for r in split_tasks("scienceworld", "train")) for t in TRAIN_TASKS}
  assert per_task["boil"] == 18 and per_task["identify-life-stages-1"] == 8
  assert per_task["power-component"] == 12


def test_splits_are_disjoint_and_in_range():
  for env_name in ("scienceworld", "twx"):
    refs = {s: split_tasks(env_name, s) for s in SPLITS}
    for s, rs in refs.items():
      assert len(set(rs)) == len(rs), (env_name, s)
      assert all(isinstance(r, TaskRef) for r in rs)
    seen = set()
    for rs in refs.values():
      assert not seen & set(rs)
      seen |= set(rs)
    in_dist = {r.task for s in ("train", "val", "test_id") for r in refs[s]}
    assert not in_dist & {r.task for r in refs["ood"]}
  for r in split_tasks("scienceworld", "ood") + split_tasks("scienceworld", "train"):
    assert 0 <= r.variation < sw.num_variations(r.task)


def test_split_recipe_is_the_documented_one():
  ids = list(range(300))
  import random
  random.Random(42).shuffle(ids)
  assert shuffled_ids(300) == ids[:30]
  p = partition(ids[:30])
  assert (len(p["train"]), len(p["val"]), len(p["test_id"])) == (18, 6, 6)
  boil = [r.variation for r in split_tasks("scienceworld", "train") if r.task == "boil"]
  assert boil == shuffled_ids(30)[:18]
  assert split_tasks("scienceworld", "train") == split_tasks("scienceworld", "train")


def test_twx_split():
  sizes = {s: len(split_tasks("twx", s)) for s in SPLITS}
  assert sizes == {"train": 90, "val": 30, "test_id": 30, "ood": 90}
  assert {r.task for r in split_tasks("twx", "train")} == set(TWX_ID_GAMES)
  assert {r.task for r in split_tasks("twx", "ood")} == set(TWX_OOD_GAMES)
  assert set(TWX_ID_GAMES) | set(TWX_OOD_GAMES) == set(twx.GAMES)
  assert all(0 <= r.variation < 30 for s in SPLITS for r in split_tasks("twx", s))


def test_bad_split_or_env_names():
  with pytest.raises(ValueError, match="split"):
    split_tasks("scienceworld", "dev")
  with pytest.raises(ValueError, match="environment"):
    split_tasks("alfworld", "train")
  with pytest.raises(ValueError, match="unknown environment 'alfworld'"):
    make_env("alfworld")


def test_gold_cache_covers_every_split_ref():
  with gzip.open(sw.GOLD_FILE, "rt") as f:
    gold = json.load(f)["gold"]
  for s in SPLITS:
    for r in split_tasks("scienceworld", s):
      actions = gold[r.task][str(r.variation)]
      assert actions and sw.cached_gold(r.task, r.variation) == tuple(actions)
      assert any(sw.step_kind(a) == "critical" for a in actions), r


def test_task_families():
  assert set(sw.TASK_FAMILIES) == set(sw.TASKS) and len(sw.TASKS) == 30
  assert sw.task_family("boil") == "matter"
  assert sw.task_family("measure-melting-point-unknown-substance") == "matter"
  assert sw.task_family("find-non-living-thing") == "biology"
  assert sw.task_family("chemistry-mix-paint-tertiary-color") == "chemistry"
  assert sw.task_family("test-conductivity-of-unknown-substances") == "electricity"
  assert sw.task_family("inclined-plane-determine-angle") == "forces"
  assert sw.task_family("mendelian-genetics-unknown-plant") == "genetics"
  # every OOD task shares its family with some train task
  assert {sw.task_family(t) for t in OOD_TASKS} <= {sw.task_family(t) for t in TRAIN_TASKS}
  assert {twx.task_family(g) for g in TWX_OOD_GAMES} <= {twx.task_family(g) for g in TWX_ID_GAMES}
  for fn in (sw.task_family, twx.task_family, sw.num_variations):
    with pytest.raises(UnknownTaskError, match="bogus"):
      fn("bogus")
  assert issubclass(UnknownTaskError, EnvironmentError_) and issubclass(UnknownTaskError, ValueError)


@pytest.mark.parametrize("action,kind", [
    ("focus on adult cherry tree", "critical"),
    ("focus on substance in metal pot", "critical"),
    ("go to kitchen", "navigation"),
    ("teleport to greenhouse", "navigation"),
    ("open door to hallway", "navigation"),
    ("look around", "navigation"),
    ("open cupboard", "manipulation"),
    ("pick up thermometer", "manipulation"),
    ("move flower pot 8 to red box", "manipulation"),
    ("wait1", "manipulation"),
])
def test_scienceworld_step_kinds(action, kind):
  assert sw.step_kind(action) == kind


@pytest.mark.parametrize("action,game,kind", [
    ("move north", "coin", "navigation"),
    ("open door to west", "cookingworld", "navigation"),
    ("look around", "twc", "navigation"),
    ("take coin", "coin", "manipulation"),
    ("dice red apple", "cookingworld", "critical"),
    ("cook red apple in oven", "cookingworld", "critical"),
    ("eat meal", "cookingworld", "critical"),
    ("take knife", "cookingworld", "manipulation"),
    ("put 2 bananas in box", "arithmetic", "critical"),
    ("take 25g of oak", "sorting", "critical"),
    ("put 25g of oak in box", "sorting", "manipulation"),
    ("take papaya", "peckingorder", "critical"),
    ("read instructions book", "peckingorder", "manipulation"),
    ("smell apple", "simonsays", "critical"),
    ("put coin in box", "mapreader", "manipulation"),
    ("dice red apple", None, "manipulation"),
])
def test_twx_step_kinds(action, game, kind):
  assert twx.step_kind(action, game) == kind


def test_unsolved_gold_paths_are_listed():
  unsolved = sw.unsolved_gold()
  assert set(unsolved) == {("freeze", 11), ("freeze", 19)}
  assert all(0 < s < 100 for s in unsolved.values())


def test_twx_gold_cache_covers_every_split_ref():
  for s in SPLITS:
    for r in split_tasks("twx", s):
      assert twx.cached_gold(r.task, r.variation), r
  assert twx.cached_gold("coin", 12345) is None
