"""The paper-table pipeline's pure parts: lambda selection, the claim check, rows
and the markdown table, on hand-made numbers."""

from pathlib import Path

import pytest

from mtr_jax.paper_table import (best_single, claim_check, markdown_table,
                                 mtrouter_routers, result_row, router_slug,
                                 select_lambda, split_runs)


def row(name, kind, score, cost, switch=0.0):
  r = {"router": name, "kind": kind, "mean_score": score, "mean_cost": cost,
       "score_ci": [score - 5, score + 5], "cost_per_pass": cost * 10,
       "switch_rate": switch}
  if kind == "mtrouter":
    r["lam"] = float(name.rpartition("=")[2])
  return r


ROWS = [row("gpt-5", "model", 60.0, 0.35), row("gpt-oss-120b", "model", 30.0, 0.01),
        row("random router", "random", 20.0, 0.12, switch=0.8),
        row("ridge", "baseline", 35.0, 0.05, switch=0.3),
        row("MTRouter lam=0", "mtrouter", 64.0, 0.30, switch=0.1),
        row("MTRouter lam=0.1", "mtrouter", 61.0, 0.20, switch=0.2),
        row("MTRouter lam=1", "mtrouter", 31.0, 0.02, switch=0.05)]


def test_best_single_is_the_top_scoring_model():
  assert best_single(ROWS)["router"] == "gpt-5"


def test_select_lambda_prefers_the_best_score_within_the_cost_budget():
  # lam=0 scores highest but costs 0.30 > 0.6 x 0.35 = 0.21
  assert select_lambda(ROWS, 0.6)["router"] == "MTRouter lam=0.1"
  assert select_lambda(ROWS, 1.0)["router"] == "MTRouter lam=0"
  # nothing that cheap: the cheapest lambda
  assert select_lambda(ROWS, 0.01)["router"] == "MTRouter lam=1"


def test_claim_check():
  ok = claim_check(ROWS, ROWS[5], 0.6)
  assert ok["score_not_lower"] and ok["cost_within"] and ok["holds"]
  assert ok["cost_fraction"] == pytest.approx(0.2 / 0.35)
  assert ok["switches_less_than_random"] and ok["switches_less_than_ridge"]
  too_costly = claim_check(ROWS, ROWS[4], 0.6)
  assert too_costly["score_not_lower"] and not too_costly["cost_within"]
  assert not too_costly["holds"]
  switchy = claim_check(ROWS, {**ROWS[5], "switch_rate": 0.5}, 0.6)
  assert not switchy["switches_less_than_ridge"] and not switchy["holds"]


def test_result_row_from_evaluate_results():
  results = {"runs": 2, "overall": {
      "episodes": 4, "score": {"mean": 10.0, "ci_low": 1.0, "ci_high": 19.0},
      "success_rate": 0.5, "cost": {"mean": 0.25, "total": 1.0},
      "switch_rate": {"mean": 0.3}, "error_behaviour": {"switch_after_error": 0.4,
                                                         "recovery_rate": 0.9}}}
  r = result_row("MTRouter lam=0.03", "mtrouter", results)
  assert r["cost_per_pass"] == 0.5 and r["score_ci"] == [1.0, 19.0]
  assert r["lam"] == 0.03 and r["label"] == "λ=0.03"


def test_markdown_table_marks_the_chosen_row_and_leaves_gaps():
  text = markdown_table({"test_id": ROWS, "ood": ROWS[:2]}, "MTRouter lam=0.1")
  lines = text.splitlines()
  assert lines[0].count("|") == 1 + 1 + 6
  assert any(line.startswith("| MTRouter lam=0.1 * |") for line in lines)
  ridge = next(line for line in lines if line.startswith("| ridge |"))
  assert ridge.endswith("| 0.300 |  |  |  |")
  assert "60.0 [55.0, 65.0]" in text


def test_routers_and_runs_from_the_config():
  import sys
  sys.path.insert(0, ".")
  from experiments.configs.paper import get_config
  c = get_config("quick")
  specs = mtrouter_routers(c, "runs/x/estimator")
  assert list(specs) == ["MTRouter lam=0", "MTRouter lam=0.3", "MTRouter lam=1"]
  assert specs["MTRouter lam=0.3"] == "checkpoint:runs/x/estimator,lam=0.3"
  c.train.model.heads = 1
  assert list(mtrouter_routers(c, "ck")) == [f"MTRouter lam={c.data.lam:g}"]
  assert split_runs(c, "ood") == 1 and split_runs(c, "train") == c.collect.eval_runs
  assert router_slug("model:openai/gpt-5") == "model_openai_gpt-5"


@pytest.mark.slow
def test_paper_table_quick_on_twx(tmp_path):
  """The whole comparison, shrunk: real TWX, the real encoder, every baseline, a
  routing-time lambda sweep chosen on val, tables, plots and W&B tables."""
  import json
  import sys
  sys.path.insert(0, ".")
  from experiments.configs.paper import get_config

  from mtr_jax.paper_table import run
  config = get_config("quick,env=twx")
  report = run(config, tmp_path)
  assert "SIMULATED" in report["note"]
  assert report["chosen"] in {f"MTRouter lam={lam:g}" for lam in config.route.lams}
  assert set(report["splits"]) == {"test_id", "ood"}
  for split, entry in report["splits"].items():
    rows = {r["router"]: r for r in entry["rows"]}
    assert {"gpt-5", "random router", "routerdc", "embedllm", "avengerspro", "ridge",
            "cluster_q", "MTRouter lam=0.3"} <= set(rows)
    want = report["variations"][split] * report["runs"][split]
    assert all(r["episodes"] == want for r in rows.values()), split
    assert rows["gpt-5"]["switch_rate"] == 0.0
    assert rows["random router"]["switch_rate"] > 0.5
    assert set(entry["claim"]) >= {"holds", "score_not_lower", "cost_within"}
    assert entry["frontier"]["hull"]["labels"]
    for png in entry["plots"].values():
      assert Path(png).stat().st_size > 10_000
  saved = json.loads((tmp_path / "report.json").read_text())
  assert saved["chosen"] == report["chosen"]
  text = (tmp_path / "table.md").read_text()
  assert "SIMULATED" in text and f"| {report['chosen']} * |" in text
  tables = tmp_path / "wandb_run" / "tables"
  assert (tables / "test_id__routers.json").exists()
  assert (tables / "ood__cost_score.json").exists()
