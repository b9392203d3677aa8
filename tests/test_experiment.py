"""The main job end to end on real TextWorld-Express with simulated agents."""

import json

import pytest


@pytest.mark.slow
def test_main_job_quick_on_twx(tmp_path):
  import sys
  sys.path.insert(0, "experiments")
  from configs.default import get_config

  from mtr_jax.experiment import train_and_evaluate
  config = get_config("quick")
  config.collect.workers = 1
  config.collect.eval_runs = 2
  report = train_and_evaluate(config, tmp_path)
  rows = {r["router"]: r for r in report["rows"]}
  assert {"openai/gpt-5", "openai/gpt-oss-120b", "random router", "MTRouter (ours)"} <= set(rows)
  assert all(r["episodes"] == rows["random router"]["episodes"] > 0 for r in rows.values())
  # The trained router beats the random router on held-out episodes, on the objective
  # it was trained for (normalised score minus lambda x normalised cost).
  assert rows["MTRouter (ours)"]["objective"] > rows["random router"]["objective"]
  saved = json.loads((tmp_path / "report.json").read_text())
  assert "SIMULATED" in saved["note"]
  assert (tmp_path / "estimator" / "checkpoints").is_dir()
  assert (tmp_path / "pareto.png").stat().st_size > 10_000
