"""Malformed trajectory files: each raises TrajectoryError naming file and field."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mtr_jax.trajectories import TrajectoryError, read_trajectory

DATA = Path(__file__).parent / "data"


def _base() -> dict:
  return json.loads((DATA / "reference_qa.traj.json").read_text())


def _set(*keys_and_value):
  *keys, value = keys_and_value
  def mutate(d):
    holder = d
    for k in keys[:-1]:
      holder = holder[k]
    holder[keys[-1]] = value
  return mutate


def _delete(*keys):
  def mutate(d):
    holder = d
    for k in keys[:-1]:
      holder = holder[k]
    del holder[keys[-1]]
  return mutate


def _no_model(d):
  msg = d["messages"][4]
  msg.pop("model_name", None)
  msg.pop("selected_model", None)
  del msg["router_info"]["selected_model"]
  del msg["extra"]["response"]["model"]


COST = ("messages", 2, "extra", "response", "usage", "cost")
PROP = ("messages", 2, "propensity")

CASES = {
    "missing_messages": (_delete("messages"), "messages: missing"),
    "messages_not_list": (_set("messages", {"role": "user"}), "messages: expected a list"),
    "empty_messages": (_set("messages", []), "messages: empty message list"),
    "missing_info": (_delete("info"), "info: missing"),
    "null_info": (_set("info", None), "info: missing"),
    "info_not_object": (_set("info", [1]), "info: expected an object"),
    "no_model_anywhere": (_no_model, "messages[4]: assistant message without a model"),
    "model_not_string": (_set("messages", 2, "model_name", 5),
                         "messages[2].model_name: expected a string"),
    "null_content": (_set("messages", 3, "content", None),
                     "messages[3].content: expected a string, got NoneType"),
    "list_content": (_set("messages", 2, "content", [{"type": "text", "text": "hi"}]),
                     "messages[2].content: expected a string, got list"),
    "missing_content": (_delete("messages", 1, "content"), "messages[1].content: missing"),
    "bad_role": (_set("messages", 1, "role", "observer"), "messages[1].role: expected one of"),
    "message_not_object": (_set("messages", 1, "hello"), "messages[1]: expected an object"),
    "nan_cost": (_set(*COST, math.nan), "messages[2].extra.response.usage.cost: "
                 "not a finite number (nan)"),
    "inf_cost": (_set(*COST, math.inf), "messages[2].extra.response.usage.cost: "
                 "not a finite number (inf)"),
    "negative_cost": (_set(*COST, -0.1), "messages[2].extra.response.usage.cost: negative"),
    "string_cost": (_set(*COST, "0.01"), "messages[2].extra.response.usage.cost: "
                    "expected a number"),
    "nan_instance_cost": (_set("info", "model_stats", "instance_cost", math.nan),
                          "info.model_stats.instance_cost: not a finite number"),
    "propensity_zero": (_set(*PROP, 0.0), "messages[2].propensity: propensity must lie "
                        "in (0, 1]"),
    "propensity_above_one": (_set(*PROP, 1.5), "messages[2].propensity: propensity must "
                             "lie in (0, 1]"),
    "propensity_nan": (_set(*PROP, math.nan), "messages[2].propensity: not a finite number"),
    "propensity_bool": (_set(*PROP, True), "messages[2].propensity: expected a number"),
    "router_propensity_negative": (
        _set("messages", 4, "router_info", "propensity", -0.2),
        "messages[4].router_info.propensity: propensity must lie in (0, 1]"),
    "extra_not_object": (_set("messages", 4, "extra", "oops"),
                         "messages[4].extra: expected an object, got str"),
    "negative_tokens": (_set("messages", 2, "extra", "response", "usage", "prompt_tokens", -3),
                        "messages[2].extra.response.usage.prompt_tokens: expected a "
                        "non-negative integer"),
    "fractional_tokens": (_set("messages", 2, "extra", "response", "usage",
                               "completion_tokens", 1.5),
                          "messages[2].extra.response.usage.completion_tokens"),
    "missing_exit_status": (_delete("info", "exit_status"), "info.exit_status: missing"),
    "exit_status_not_string": (_set("info", "exit_status", 3),
                               "info.exit_status: expected a string"),
    "empty_benchmark": (_set("info", "benchmark", ""), "info.benchmark: empty string"),
    "benchmark_not_string": (_set("info", "benchmark", 7),
                             "info.benchmark: expected a string"),
    "benchmark_not_inferable": (_delete("info", "benchmark_data"),
                                "info.benchmark: missing and cannot be inferred"),
    "judge_correct_garbage": (_set("info", "benchmark_data", "judge_result", "correct",
                                   "maybe"),
                              "info.benchmark_data.judge_result.correct: expected true/false"),
    "benchmark_data_not_object": (_set("info", "benchmark_data", "Math"),
                                  "info.benchmark_data: expected an object"),
    "score_out_of_range": (_set("info", "final_score", 3.0),
                           "info.final_score: 3.0 outside [0, 1]"),
    "score_nan": (_set("info", "final_score", math.nan),
                  "info.final_score: not a finite number"),
    "variation_not_int": (_set("info", "variation_idx", "three"),
                          "info.variation_idx: expected a number"),
    "unknown_format": (_set("trajectory_format", "swe-agent-9"),
                       "trajectory_format: unknown format"),
    "fallback_not_string": (_set("messages", 2, "fallback_from", 4),
                            "messages[2].fallback_from: expected a string"),
}


def _legacy_propensity_too_big(d):
  msg = d["messages"][4]
  msg.pop("router_info")
  msg["model_name"] = "openai/gpt-oss-120b"
  msg["extra"]["router_info"] = {"propensity": 2}


CASES["extra_router_propensity_too_big"] = (
    _legacy_propensity_too_big,
    "messages[4].extra.router_info.propensity: propensity must lie in (0, 1]")


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_file_names_file_and_field(tmp_path, case):
  mutate, expected = CASES[case]
  data = _base()
  mutate(data)
  path = tmp_path / f"{case}.traj.json"
  path.write_text(json.dumps(data))  # json writes NaN/Infinity literals, like Python does
  with pytest.raises(TrajectoryError) as e:
    read_trajectory(path)
  message = str(e.value)
  assert message.startswith(f"{path}: "), message
  assert expected in message, message


def test_sw_missing_final_score(tmp_path):
  data = json.loads((DATA / "reference_variants.traj.json").read_text())
  del data["info"]["final_score"]
  path = tmp_path / "sw.traj.json"
  path.write_text(json.dumps(data))
  with pytest.raises(TrajectoryError, match=r"sw.traj.json: info.final_score: missing"):
    read_trajectory(path)


def test_sw_score_range(tmp_path):
  data = json.loads((DATA / "reference_variants.traj.json").read_text())
  data["info"]["final_score"] = 150
  path = tmp_path / "sw.traj.json"
  path.write_text(json.dumps(data))
  with pytest.raises(TrajectoryError, match=r"info.final_score: 150.0 outside \[-100, 100\]"):
    read_trajectory(path)


@pytest.mark.parametrize("text, expected", [
    ("{not json", "not valid JSON"),
    ("", "not valid JSON"),
    ("[1, 2]", "expected a JSON object at the top level, got list"),
])
def test_not_a_trajectory(tmp_path, text, expected):
  path = tmp_path / "junk.traj.json"
  path.write_text(text)
  with pytest.raises(TrajectoryError, match=expected) as e:
    read_trajectory(path)
  assert str(e.value).startswith(str(path))


def test_not_utf8(tmp_path):
  path = tmp_path / "bin.traj.json"
  path.write_bytes(b"\xff\xfe{}")
  with pytest.raises(TrajectoryError, match="bin.traj.json: not UTF-8"):
    read_trajectory(path)


def test_trajectory_error_is_a_value_error():
  assert issubclass(TrajectoryError, ValueError)
