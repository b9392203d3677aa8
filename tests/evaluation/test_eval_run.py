"""evaluate() on the toy environment (random router and one model), its
resumability and results.json; evaluate_folder; router specs."""

from __future__ import annotations

import json

import pytest

from mtr_jax.envs.base import TaskRef
from mtr_jax.evaluation.evaluate import (evaluate, evaluate_folder, format_results,
                                         load_results, parse_router)
from mtr_jax.evaluation.frontier import frontier_summary
from mtr_jax.pool import load_pool

ENV = "mtr_jax.envs.toy:ToyEnv"
REFS = [TaskRef("fetch", v) for v in range(3)]


def test_parse_router_specs():
  pool = load_pool("paper6")
  c = parse_router("model:gpt-oss-120b", pool)
  assert (c.mode, c.model) == ("baseline", "openai/gpt-oss-120b")
  c = parse_router("random,seed=3")
  assert c.mode == "roulette" and c.spec.seed == 3
  c = parse_router("checkpoint:/tmp/ck,policy=softmax,temperature=0.5")
  assert (c.mode, c.spec.checkpoint, c.spec.policy, c.spec.temperature) == (
      "learned", "/tmp/ck", "softmax", 0.5)
  c = parse_router("mixed:/tmp/ck,beta=0.7")
  assert (c.mode, c.spec.beta) == ("mixed", 0.7)
  for bad, msg in (("model:", "model name"), ("bogus", "unknown router spec"),
                   ("random,colour=1", "unknown option"), ("random,seed=x", "valid int"),
                   ("checkpoint:", "checkpoint path")):
    with pytest.raises(ValueError, match=msg):
      parse_router(bad)
  with pytest.raises(KeyError, match="unknown model"):
    parse_router("model:nope", pool)


def test_evaluate_toy_random_and_single_model(tmp_path):
  out = tmp_path / "random"
  res = evaluate(ENV, REFS, "random", runs=2, workers=1, out=out, n_boot=200, seed=1)
  assert (out / "results.json").exists()
  on_disk = load_results(out)
  assert on_disk["overall"] == json.loads(json.dumps(res["overall"]))
  assert "simulated-agent testbed" in res["label"] and res["simulated"] is True
  assert res["router"]["mode"] == "roulette" and res["split"] is None
  assert res["collection"]["planned"] == 6 and res["collection"]["failed"] == 0
  ov = res["overall"]
  assert ov["episodes"] == 6 and len(res["episodes"]) == 6
  assert set(res["per_task"]) == {"fetch"}
  assert ov["score"]["ci_low"] <= ov["score"]["mean"] <= ov["score"]["ci_high"]
  assert 0.0 <= ov["switch_rate"]["mean"] <= 1.0
  assert len(ov["model_usage"]) > 1
  spec = ov["specialisation"]
  assert "unknown" not in spec["by_step_kind"]["calls"]  # kinds come from the testbed
  assert set(spec["by_task_family"]["calls"]) == {"search"}
  assert ov["error_behaviour"]["events"] >= 0
  assert res["point"] == {"cost": ov["cost"]["mean"], "score": ov["score"]["mean"]}
  assert "switch rate" in format_results(res)

  again = evaluate(ENV, REFS, "random", runs=2, out=out, n_boot=200, seed=1)
  assert again["collection"]["skipped_existing"] == 6
  assert again["collection"]["collected_now"] == 0
  assert again["overall"] == res["overall"]

  folder = evaluate_folder(out, "paper6", n_boot=200, seed=1, out=tmp_path / "f.json")
  assert folder["overall"]["episodes"] == 6
  assert folder["overall"]["score"] == pytest.approx(ov["score"])
  assert folder["overall"]["switch_rate"] == pytest.approx(ov["switch_rate"])
  assert (tmp_path / "f.json").exists()

  single = evaluate(ENV, REFS, "model:gpt-oss-120b", runs=1, out=tmp_path / "one",
                    n_boot=200)
  assert (tmp_path / "one" / "openai_gpt-oss-120b" / "fetch").is_dir()
  sov = single["overall"]
  assert list(sov["model_usage"]) == ["openai/gpt-oss-120b"]
  assert sov["switch_rate"]["mean"] in (0.0, None)
  assert single["router"]["model"] == "openai/gpt-oss-120b"

  fr = frontier_summary([single["point"]["cost"], res["point"]["cost"]],
                        [single["point"]["score"], res["point"]["score"]])
  assert len(fr["hull"]["costs"]) >= 1


def test_evaluate_rejects_split_for_custom_env(tmp_path):
  with pytest.raises(ValueError, match="pass the task refs"):
    evaluate(ENV, "test_id", "random", out=tmp_path)
  with pytest.raises(ValueError, match="no task refs"):
    evaluate(ENV, [], "random", out=tmp_path)


def test_eval_command(tmp_path, capsys):
  import argparse

  from mtr_jax.evaluation.command import add_eval_parser, parse_refs
  parser = argparse.ArgumentParser(prog="mtr-jax")
  add_eval_parser(parser.add_subparsers(dest="command", required=True))
  out = tmp_path / "cmd"
  args = parser.parse_args(["eval", "--env", ENV, "--refs", "fetch:0,plant:1",
                            "--router", "random,seed=2", "--out", str(out),
                            "--n-boot", "50", "--no-progress", "--step-limit", "20"])
  assert args.fn(args) == 0
  res = load_results(out)
  assert res["overall"]["episodes"] == 2 and res["limits"]["step_limit"] == 20
  assert res["router"]["router"]["seed"] == 2
  assert "results:" in capsys.readouterr().out
  args = parser.parse_args(["eval", "--from-folder", str(out), "--n-boot", "50",
                            "--no-episodes", "--out", str(tmp_path / "again.json")])
  assert args.fn(args) == 0
  again = load_results(tmp_path / "again.json")
  assert "episodes" not in again and again["overall"]["episodes"] == 2
  args = parser.parse_args(["eval", "--env", ENV, "--router", "random"])
  with pytest.raises(ValueError, match="--split or --refs"):
    args.fn(args)
  assert parse_refs("fetch:0, plant:9") == [TaskRef("fetch", 0), TaskRef("plant", 9)]
  with pytest.raises(ValueError, match="task:variation"):
    parse_refs("fetch")
