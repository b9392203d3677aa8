"""Trajectory files: round trip, atomic writes, reference field variants,
cost recomputation and folder iteration."""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import pytest

from mtr_jax.pool import Pool, load_pool, model_from_dict
from mtr_jax.trajectories import (FORMAT, Step, Trajectory, TrajectoryError,
                                  find_trajectories, iter_trajectories,
                                  read_trajectory, resolve_model,
                                  trajectory_from_dict, write_trajectory)

DATA = Path(__file__).parent / "data"


def ours() -> dict:
  """A trajectory dict as our collection writes it."""
  def call(model, p, pt, ct, cost, content, **kw):
    return {"role": "assistant", "content": content, "model_name": model,
            "propensity": p, **kw,
            "extra": {"response": {"model": model, "usage": {
                "prompt_tokens": pt, "completion_tokens": ct, "cost": cost}}}}
  return {
      "trajectory_format": FORMAT,
      "info": {"exit_status": "LimitsExceeded", "task_id": "coin_var7_run2",
               "task_name": "coin", "variation_idx": 7, "benchmark": "twx",
               "final_score": -25.0,
               "model_stats": {"instance_cost": 0.00061, "api_calls": 3}},
      "messages": [
          {"role": "system", "content": "You play a text game."},
          {"role": "user", "content": "<task_description>\nFind the coin.\n"
           "</task_description>\n\n<initial_observation>\nA kitchen.\n"
           "</initial_observation>"},
          call("openai/gpt-oss-120b", 1 / 6, 300, 40, 0.0000414,
               "```text\nopen door to hallway\n```"),
          {"role": "user", "content": "<observation>\nThe door is open.\n</observation>"},
          call("google/gemini-2.5-flash-lite", 0.5, 400, 20, 0.000048, "",
               error="timeout after 4 retries"),
          {"role": "user", "content": "<observation>\nNo known action matches that "
           "input.\n</observation>"},
          call("openai/gpt-5", 1.0, 420, 0, 0.000525, "```text\ngo to hallway\n```"),
      ],
  }


# ---------------------------------------------------------------------------
# Round trip and writing.


def test_round_trip_every_field(tmp_path):
  traj = ours()
  path = write_trajectory(tmp_path / "twx" / "coin_var7_run2.traj.json", traj)
  assert path == tmp_path / "twx" / "coin_var7_run2.traj.json"
  assert json.loads(path.read_text()) == traj
  t = read_trajectory(path)
  assert isinstance(t, Trajectory)
  assert t.path == path
  assert (t.task_id, t.task_name, t.variation_idx) == ("coin_var7_run2", "coin", 7)
  assert (t.benchmark, t.final_score, t.exit_status) == ("twx", -25.0, "LimitsExceeded")
  assert t.trajectory_format == FORMAT
  assert t.messages == traj["messages"]
  assert t.info == traj["info"]
  assert t.to_dict() == traj
  assert not t.is_qa and t.n_steps == 3
  assert t.steps == [
      Step(turn=0, message_index=2, model="openai/gpt-oss-120b", propensity=1 / 6,
           cost=0.0000414, prompt_tokens=300, completion_tokens=40,
           observation="<observation>\nThe door is open.\n</observation>"),
      Step(turn=1, message_index=4, model="google/gemini-2.5-flash-lite",
           propensity=0.5, cost=0.000048, prompt_tokens=400, completion_tokens=20,
           observation="<observation>\nNo known action matches that input.\n"
           "</observation>", error="timeout after 4 retries"),
      Step(turn=2, message_index=6, model="openai/gpt-5", propensity=1.0,
           cost=0.000525, prompt_tokens=420, completion_tokens=0, observation=None),
  ]
  assert t.total_cost == pytest.approx(0.0000414 + 0.000048 + 0.000525, abs=1e-15)
  assert t.history(t.steps[1]) == traj["messages"][:4]
  assert t.history(0) == traj["messages"][:2]
  # Writing what we read gives the same file content.
  again = write_trajectory(tmp_path / "copy.traj.json", t.to_dict())
  assert json.loads(again.read_text()) == traj


def test_write_adds_format_and_keeps_input(tmp_path):
  traj = ours()
  del traj["trajectory_format"]
  before = copy.deepcopy(traj)
  path = write_trajectory(tmp_path / "a.traj.json", traj)
  assert traj == before
  assert json.loads(path.read_text())["trajectory_format"] == FORMAT


def test_atomic_write_leaves_no_temp_and_refuses_overwrite(tmp_path):
  path = tmp_path / "ep.traj.json"
  write_trajectory(path, ours())
  assert sorted(os.listdir(tmp_path)) == ["ep.traj.json"]
  first = path.read_bytes()
  changed = ours()
  changed["info"]["final_score"] = 100.0
  with pytest.raises(FileExistsError, match="ep.traj.json"):
    write_trajectory(path, changed)
  assert path.read_bytes() == first
  assert sorted(os.listdir(tmp_path)) == ["ep.traj.json"]
  write_trajectory(path, changed, overwrite=True)
  assert read_trajectory(path).final_score == 100.0
  assert sorted(os.listdir(tmp_path)) == ["ep.traj.json"]


def test_failed_move_leaves_no_temp_file(tmp_path, monkeypatch):
  def boom(*args, **kwargs):
    raise OSError("disk on fire")
  monkeypatch.setattr(os, "replace", boom)
  with pytest.raises(OSError, match="disk on fire"):
    write_trajectory(tmp_path / "ep.traj.json", ours(), overwrite=True)
  assert os.listdir(tmp_path) == []


def test_write_without_hard_links_still_refuses_overwrite(tmp_path, monkeypatch):
  def no_links(*args, **kwargs):
    raise PermissionError("hard links not supported")
  monkeypatch.setattr(os, "link", no_links)
  path = write_trajectory(tmp_path / "ep.traj.json", ours())
  assert read_trajectory(path).task_id == "coin_var7_run2"
  with pytest.raises(FileExistsError):
    write_trajectory(path, ours())
  assert os.listdir(tmp_path) == ["ep.traj.json"]


@pytest.mark.parametrize("where, field", [
    (("messages", 4, "extra", "response", "usage", "cost"),
     "messages[4].extra.response.usage.cost: not a finite number"),
    (("info", "model_stats", "instance_cost"),
     "info.model_stats.instance_cost: not a finite number"),
    (("info", "final_score"), "info.final_score: not a finite number"),
])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_write_rejects_non_finite_costs(tmp_path, where, field, bad):
  traj = ours()
  holder = traj
  for key in where[:-1]:
    holder = holder[key]
  holder[where[-1]] = bad
  path = tmp_path / "sub" / "ep.traj.json"
  with pytest.raises(TrajectoryError) as e:
    write_trajectory(path, traj)
  assert str(path) in str(e.value) and field in str(e.value)
  assert not path.exists()
  assert not (tmp_path / "sub").exists() or os.listdir(tmp_path / "sub") == []


def test_write_rejects_nan_in_unread_fields(tmp_path):
  traj = ours()
  traj["info"]["timings"] = {"env_s": [0.1, math.nan]}
  with pytest.raises(TrajectoryError, match=r"ep.traj.json: info.timings.env_s\[1\]: "
                     r"not a finite number"):
    write_trajectory(tmp_path / "ep.traj.json", traj)
  assert os.listdir(tmp_path) == []


def test_write_validates_like_the_reader(tmp_path):
  traj = ours()
  del traj["messages"][2]["extra"]["response"]["usage"]["cost"]
  with pytest.raises(TrajectoryError,
                     match=r"ep.traj.json: messages\[2\].extra.response.usage.cost: missing"):
    write_trajectory(tmp_path / "ep.traj.json", traj)
  traj = ours()
  traj["messages"][4]["propensity"] = 0.0
  with pytest.raises(TrajectoryError, match=r"messages\[4\].propensity"):
    write_trajectory(tmp_path / "ep.traj.json", traj)
  assert os.listdir(tmp_path) == []


def test_write_rejects_other_file_names_and_unserialisable(tmp_path):
  with pytest.raises(TrajectoryError, match=r"ep.json: file name must end with"):
    write_trajectory(tmp_path / "ep.json", ours())
  traj = ours()
  traj["info"]["started"] = object()
  with pytest.raises(TrajectoryError, match="ep.traj.json: not serialisable"):
    write_trajectory(tmp_path / "ep.traj.json", traj)
  assert os.listdir(tmp_path) == []


def test_failed_call_and_fallback_as_our_rollout_writes_them(tmp_path):
  """A context-window fallback (router_info.fallback_from; model_name is the model
  that ran) and a final call that failed after retries (extra.error, no usage)."""
  traj = ours()
  traj["info"]["exit_status"] = "APIError"
  traj["info"]["error"] = "openai/gpt-5: HTTP 500"
  fell_back = traj["messages"][2]
  fell_back["router_info"] = {"selected_model": "minimax/minimax-m2", "propensity": 1 / 6,
                              "fallback_from": "minimax/minimax-m2",
                              "fallback_reason": "prompt of 5000 tokens exceeds 4096"}
  traj["messages"][6] = {"role": "assistant", "content": "", "model_name": "openai/gpt-5",
                         "propensity": 1.0, "router_info": {"selected_model": "openai/gpt-5",
                                                            "propensity": 1.0},
                         "extra": {"error": "HTTP 500"}}
  t = read_trajectory(write_trajectory(tmp_path / "ep.traj.json", traj))
  assert t.steps[0].model == "openai/gpt-oss-120b"
  assert t.steps[0].fallback_from == "minimax/minimax-m2"
  failed = t.steps[2]
  assert (failed.error, failed.cost, failed.prompt_tokens, failed.observation) == (
      "HTTP 500", 0.0, None, None)
  assert t.exit_status == "APIError"
  # A failed call that did record usage is still charged.
  traj["messages"][6]["extra"]["response"] = {"usage": {"prompt_tokens": 10,
                                                        "completion_tokens": 0,
                                                        "cost": 0.25}}
  assert trajectory_from_dict(traj, "x.traj.json").steps[2].cost == 0.25


def test_any_environment_benchmark_uses_the_environment_score_range():
  traj = ours()
  traj["info"]["benchmark"] = "toy"
  traj["info"]["final_score"] = -100.0
  t = trajectory_from_dict(traj, "x.traj.json")
  assert (t.benchmark, t.final_score, t.is_qa) == ("toy", -100.0, False)
  traj["info"]["final_score"] = 100.5
  with pytest.raises(TrajectoryError, match=r"x.traj.json: info.final_score: 100.5 "
                     r"outside \[-100, 100\] for benchmark 'toy'"):
    trajectory_from_dict(traj, "x.traj.json")


def test_episode_without_calls_is_valid():
  traj = ours()
  traj["messages"] = traj["messages"][:2]
  traj["info"]["exit_status"] = "ContextWindowExceeded"
  t = trajectory_from_dict(traj, "x.traj.json")
  assert (t.steps, t.total_cost) == ([], 0.0)


# ---------------------------------------------------------------------------
# Reference files.


def test_reference_variants_file():
  t = read_trajectory(DATA / "reference_variants.traj.json", load_pool("paper6"))
  assert [s.model for s in t.steps] == [
      "openai/gpt-oss-120b",       # model_name
      "deepseek/deepseek-v3.2",    # router_info.selected_model (not response.model)
      "minimax/minimax-m2",        # extra.router_info.selected_model ("" model_name)
      "moonshotai/kimi-k2-0905",   # selected_model
      "gemini-2.5-flash-lite",     # extra.response.model
      "openai/gpt-5",              # model_name wins over router_info and response
      "openai/gpt-oss-120b",
  ]
  assert [s.propensity for s in t.steps] == pytest.approx(
      [1 / 6, 0.5 + 0.5 / 6, 0.5 / 6, 0.25, 1.0, 1 / 6, 1.0])
  assert [s.cost for s in t.steps] == pytest.approx(
      [0.0001026, 0.0003036, 0.00052, 0.000658, 0.00018, 0.0175, 0.000207])
  assert [s.cost_recomputed for s in t.steps] == [False] * 4 + [True] + [False] * 2
  assert [s.message_index for s in t.steps] == [2, 4, 6, 8, 10, 12, 14]
  assert [s.turn for s in t.steps] == list(range(7))
  assert t.steps[4].prompt_tokens == 1000 and t.steps[4].completion_tokens == 200
  assert t.steps[5].fallback_from == "minimax/minimax-m2"
  assert t.steps[3].observation == ("<observation>\nNo known action matches that "
                                    "input.\n</observation>")
  assert t.steps[6].observation == ""
  assert (t.benchmark, t.final_score, t.exit_status) == ("scienceworld", 100.0, "Submitted")
  assert (t.task_id, t.task_name, t.variation_idx) == ("boil_var3_run0", "boil", 3)
  assert t.total_cost == pytest.approx(t.info["model_stats"]["instance_cost"])
  assert t.history(t.steps[0])[-1]["content"].startswith("<task_description>")


def test_reference_variants_need_a_pool_for_the_missing_cost():
  path = DATA / "reference_variants.traj.json"
  with pytest.raises(TrajectoryError) as e:
    read_trajectory(path)
  assert str(e.value).startswith(f"{path}: messages[10].extra.response.usage.cost: missing")


def test_reference_qa_file():
  t = read_trajectory(DATA / "reference_qa.traj.json")
  assert [s.model for s in t.steps] == ["openai/gpt-5", "openai/gpt-oss-120b"]
  assert [s.propensity for s in t.steps] == pytest.approx([0.5 + 0.5 / 6, 0.5 / 6])
  assert [s.cost for s in t.steps] == pytest.approx([0.01175, 0.0003024])
  assert t.benchmark == "qa" and t.is_qa
  assert t.final_score == 1.0 and t.exit_status == "Submitted"
  assert (t.task_id, t.task_name, t.variation_idx) == ("6710a1b2c3d4e5f6a7b8c9d0", "Math",
                                                       None)
  assert t.steps[0].observation.startswith('<tool_response name="python">')


def _qa() -> dict:
  return json.loads((DATA / "reference_qa.traj.json").read_text())


def test_qa_benchmark_data_at_top_level_and_false_judgement():
  data = _qa()
  bd = data["info"].pop("benchmark_data")
  bd["judge_result"]["correct"] = False
  data["benchmark_data"] = bd
  t = trajectory_from_dict(data, "x.traj.json")
  assert (t.benchmark, t.final_score) == ("qa", 0.0)


def test_qa_explicit_hle_and_final_score_precedence():
  data = _qa()
  data["info"]["benchmark"] = "hle"
  data["info"]["final_score"] = 0.0  # info.final_score wins over the judge
  t = trajectory_from_dict(data, "x.traj.json")
  assert (t.benchmark, t.final_score, t.is_qa) == ("hle", 0.0, True)


def test_qa_unanswered_scores_zero_but_unjudged_answer_is_an_error():
  data = _qa()
  data["info"]["benchmark"] = "hle"
  data["info"]["exit_status"] = "LimitsExceeded"
  bd = data["info"]["benchmark_data"]
  del bd["judge_result"]
  bd["prediction"] = None
  assert trajectory_from_dict(data, "x.traj.json").final_score == 0.0
  bd["prediction"] = "101"
  with pytest.raises(TrajectoryError,
                     match=r"x.traj.json: info.benchmark_data.judge_result: missing"):
    trajectory_from_dict(data, "x.traj.json")


def test_task_id_fallbacks():
  data = json.loads((DATA / "reference_variants.traj.json").read_text())
  del data["info"]["task_id"]
  pool = load_pool("paper6")
  assert trajectory_from_dict(data, "r/a.traj.json", pool).task_id == "boil_var3"
  data["info"]["benchmark"] = "scienceworld"
  del data["info"]["task_name"], data["info"]["variation_idx"]
  t = trajectory_from_dict(data, "r/boil_var3_run4.traj.json", pool)
  assert (t.task_id, t.task_name, t.variation_idx) == ("boil_var3_run4", None, None)


# ---------------------------------------------------------------------------
# Cost recomputation.


def _tiny_pool() -> Pool:
  profile = {"skill": {"navigation": 0.9, "manipulation": 0.9, "critical": 0.9},
             "completion_tokens": {"mean": 100}}
  return Pool("tiny", (
      model_from_dict({"name": "acme/small", "input_price": 2.0, "output_price": 8.0,
                       "profile": profile}),
      model_from_dict({"name": "other/big", "input_price": 10.0, "output_price": 30.0,
                       "profile": profile}),
  ))


def _without_costs() -> dict:
  traj = ours()
  for msg in traj["messages"]:
    if msg["role"] == "assistant":
      del msg["extra"]["response"]["usage"]["cost"]
  traj["messages"][2]["model_name"] = "acme/small"
  traj["messages"][4]["model_name"] = "big"          # short name of other/big
  traj["messages"][6]["model_name"] = "acme/small"
  traj["messages"][6]["extra"]["response"]["usage"]["cost"] = 0.5  # recorded wins
  return traj


def test_recompute_cost_from_tokens_with_a_pool():
  t = trajectory_from_dict(_without_costs(), "x.traj.json", _tiny_pool())
  assert [s.cost for s in t.steps] == pytest.approx(
      [(300 * 2 + 40 * 8) / 1e6, (400 * 10 + 20 * 30) / 1e6, 0.5])
  assert [s.cost_recomputed for s in t.steps] == [True, True, False]
  assert t.steps[1].model == "big"


def test_recompute_null_cost_with_paper6(tmp_path):
  traj = ours()
  traj["messages"][6]["extra"]["response"]["usage"]["cost"] = None
  path = tmp_path / "ep.traj.json"
  path.write_text(json.dumps(traj))
  t = read_trajectory(path, load_pool("paper6"))
  assert t.steps[2].cost == pytest.approx(420 * 1.25 / 1e6)
  assert t.steps[2].cost_recomputed


def test_recompute_errors_name_model_and_field():
  traj = _without_costs()
  traj["messages"][4]["model_name"] = "nobody/unknown"
  with pytest.raises(TrajectoryError, match=r"x.traj.json: messages\[4\].extra.response"
                     r".usage.cost: missing, and model 'nobody/unknown' is not in pool"):
    trajectory_from_dict(traj, "x.traj.json", _tiny_pool())
  traj = _without_costs()
  del traj["messages"][2]["extra"]["response"]["usage"]["completion_tokens"]
  with pytest.raises(TrajectoryError, match=r"messages\[2\].extra.response.usage"
                     r".completion_tokens: missing"):
    trajectory_from_dict(traj, "x.traj.json", _tiny_pool())


def test_resolve_model():
  pool = load_pool("paper6")
  assert resolve_model(pool, "openai/gpt-5") == "openai/gpt-5"
  assert resolve_model(pool, "GPT-5") == "openai/gpt-5"
  assert resolve_model(pool, "somewhere/kimi-k2-0905") == "moonshotai/kimi-k2-0905"
  assert resolve_model(pool, "gpt-5-2025-08-07") is None
  profile = {"skill": {"navigation": 0.9, "manipulation": 0.9, "critical": 0.9},
             "completion_tokens": {"mean": 100}}
  twins = Pool("twins", tuple(model_from_dict({"name": n, "input_price": 1.0,
                                               "output_price": 1.0, "profile": profile})
                              for n in ("a/m", "b/m")))
  assert resolve_model(twins, "m") is None


# ---------------------------------------------------------------------------
# Folders.


def test_iter_trajectories_sorted_recursive_with_progress(tmp_path):
  for name in ("b/ep2.traj.json", "a/x/ep1.traj.json", "c.traj.json"):
    traj = ours()
    traj["info"]["task_id"] = name
    write_trajectory(tmp_path / name, traj)
  (tmp_path / "notes.json").write_text("{}")
  (tmp_path / "a" / ".ep9.traj.json.abc.tmp").write_text("partial")
  expected = ["a/x/ep1.traj.json", "b/ep2.traj.json", "c.traj.json"]
  assert [p.relative_to(tmp_path).as_posix()
          for p in find_trajectories(tmp_path)] == expected
  assert [t.task_id for t in iter_trajectories(tmp_path)] == expected
  assert [t.task_id for t in iter_trajectories(tmp_path, progress=True)] == expected


def test_iter_trajectories_errors(tmp_path):
  write_trajectory(tmp_path / "a.traj.json", ours())
  (tmp_path / "b.traj.json").write_text("{not json")
  with pytest.raises(TrajectoryError, match="b.traj.json: not valid JSON"):
    list(iter_trajectories(tmp_path))
  with pytest.warns(UserWarning, match="b.traj.json: not valid JSON"):
    got = list(iter_trajectories(tmp_path, errors="skip"))
  assert [t.path.name for t in got] == ["a.traj.json"]
  with pytest.raises(ValueError, match="errors must be"):
    list(iter_trajectories(tmp_path, errors="ignore"))
  with pytest.raises(FileNotFoundError, match="nowhere"):
    list(iter_trajectories(tmp_path / "nowhere"))
