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


@pytest.mark.slow
def test_routing_time_settings_reuse_one_estimator(tmp_path):
  """Two jobs of a routing-time sweep (share="estimator"): the second routes with
  another lambda, a sub-pool and a budget without collecting or training again."""
  import sys
  sys.path.insert(0, "experiments")
  from configs.default import get_config

  from mtr_jax.experiment import train_and_evaluate
  config = get_config("quick")
  config.collect.workers = 1
  config.collect.max_variations = 1
  config.train.model.heads = 2
  config.route.lam = 0.0
  shared = tmp_path / "shared"
  first = train_and_evaluate(config, tmp_path / "a", estimator_workdir=shared)
  assert first["lam"] == 0.0
  def files():  # collect() rewrites summary.json (atomically) even with nothing new
    return {p: p.stat().st_mtime_ns for p in shared.rglob("*")
            if p.is_file() and p.name != "summary.json"}

  stamp = files()
  config.route.lam = 1.0
  config.route.pool = "paper6:drop=gpt-5"
  config.route.cost_limit = 0.05
  second = train_and_evaluate(config, tmp_path / "b", estimator_workdir=shared)
  assert files() == stamp  # no episode collected, no embedding, no training step
  assert second["lam"] == 1.0 and second["cost_limit"] == 0.05
  assert second["checkpoint"] == first["checkpoint"]
  rows = {r["router"] for r in second["rows"]}
  assert "openai/gpt-5 ($0.05 cap)" not in rows
  assert "openai/gpt-oss-120b ($0.05 cap)" in rows
  learned = json.loads(next((tmp_path / "b" / "trajectories").glob(
      "test_id_mtrouter_*/summary.json")).read_text())
  assert learned["router"]["lam"] == 1.0
  assert not (tmp_path / "b" / "trajectories" / "train_roulette").exists()
