"""The calibration script's tables (on the toy environment) and the structural
properties of the calibrated paper6 profiles that docs/testbed.md relies on."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from mtr_jax.pool import load_pool

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "calibrate_testbed.py"
TOY = "mtr_jax.envs.toy:ToyEnv"


@pytest.fixture(scope="module")
def cal():
  spec = importlib.util.spec_from_file_location("calibrate_testbed", SCRIPT)
  mod = importlib.util.module_from_spec(spec)
  sys.modules["calibrate_testbed"] = mod
  spec.loader.exec_module(mod)
  return mod


def test_tables_on_the_toy_environment(cal, tmp_path, capsys):
  out, table = tmp_path / "cal", tmp_path / "table.md"
  assert cal.main(["--env", TOY, "--max-variations", "3", "--workers", "1", "--out", str(out),
                   "--table", str(table), "--no-progress"]) == 0
  text = table.read_text()
  assert capsys.readouterr().out.startswith(text)  # the same markdown on stdout
  assert "Simulated-agent testbed results" in text and "Not real-LLM results" in text
  for heading in ("Single-model baselines", "Correct-action rate by step kind",
                  "Correct-action rate by task family", "Switch-in accuracy",
                  "Oracle mixes"):
    assert heading in text
  result = json.loads((out / "calibration.json").read_text())
  pool = load_pool("paper6")
  assert set(result["baselines"]) == set(pool.names)
  for stats in result["baselines"].values():
    assert stats["episodes"] == 6 and stats["runs"] == 1
  # every model's correct-action rates are probabilities, by kind and by family
  for rows in (result["observed_by_kind"], result["observed_by_family"]):
    for per_model in rows.values():
      assert all(0 <= rate <= 1 for rate, n in per_model.values())
  assert set(result["oracle"]) == {"accuracy", "cost-aware"}
  assert all(s["episodes"] == 6 for s in result["oracle"].values())
  # a second call reuses every episode (resumable) and gives the same table numbers
  assert cal.main(["--env", TOY, "--max-variations", "3", "--workers", "1", "--out", str(out),
                   "--table", str(table), "--no-progress"]) == 0
  again = json.loads((out / "calibration.json").read_text())
  assert again["baselines"] == result["baselines"] and again["oracle"] == result["oracle"]


def test_an_oracle_that_always_picks_the_reference_replays_it(cal, tmp_path):
  """Oracle episodes share the baselines' seeds: routing every cell to GPT-5
  reproduces GPT-5's baseline episodes exactly (counterfactual pairing)."""
  from mtr_jax.envs.base import TaskRef
  from mtr_jax.rollout.episode import Limits
  pool = load_pool("paper6")
  refs = [TaskRef(t, v) for t in ("fetch", "plant") for v in range(2)]
  out = tmp_path / "o"
  cal.collect(TOY, refs, mode="baseline", models=["openai/gpt-5"], out=out,
              limits=Limits(), progress=False)
  eps = cal.run_oracles(TOY, refs, 1, pool, Limits(), {"all5": {}}, out, 1,
                        fallback="openai/gpt-5")["all5"]
  jobs = cal.plan_jobs(TOY, refs, mode="baseline", pool=pool, models=["openai/gpt-5"],
                       runs=1, out=out)
  base = cal.load_baselines(jobs, "No known action matches that input.")["openai/gpt-5"]
  assert [(e.score, e.cost, len(e.calls)) for e in eps] == \
      [(e.score, e.cost, len(e.calls)) for e in base]


def test_a_changed_pool_is_not_mixed_with_old_episodes(cal, tmp_path):
  pool = load_pool("paper6")
  cal.check_fingerprint(tmp_path, pool)
  cal.check_fingerprint(tmp_path, pool)  # same pool: fine
  other = load_pool("paper6").subset(["openai/gpt-5"])
  with pytest.raises(SystemExit, match="another pool version"):
    cal.check_fingerprint(tmp_path, other)


def test_paper6_profiles_keep_the_calibrated_structure():
  """The properties the calibration (docs/testbed.md) is built on."""
  pool = load_pool("paper6")
  gpt5, oss = pool["openai/gpt-5"], pool["openai/gpt-oss-120b"]
  gemini = pool["google/gemini-2.5-flash-lite"]
  prof = {m.name: m.profile for m in pool}
  # GPT-5: the best at critical steps and the most robust on long contexts
  assert gpt5.profile.skill["critical"] == max(p.skill["critical"] for p in prof.values())
  assert gpt5.profile.context_free_tokens == max(p.context_free_tokens for p in prof.values())
  assert gpt5.profile.context_decay == min(p.context_decay for p in prof.values())
  # Gemini Flash-Lite degrades fastest on long contexts
  assert gemini.profile.context_decay == max(p.context_decay for p in prof.values())
  assert gemini.profile.context_free_tokens == min(p.context_free_tokens
                                                   for p in prof.values())
  # room for routing: someone beats GPT-5 at navigation and on some family
  assert any(p.skill["navigation"] > gpt5.profile.skill["navigation"]
             for n, p in prof.items() if n != gpt5.name)
  fams = {f for p in prof.values() for f in p.family_bias}
  assert any(oss.profile.family_bias.get(f, 0) > gpt5.profile.family_bias.get(f, 0)
             for f in fams)

  # expected cost of a call at the same prompt: GPT-5 the dearest, Gemini the cheapest,
  # GPT-OSS under a tenth of GPT-5
  def per_call(m, prompt=1500):
    return m.cost(prompt, m.profile.completion_tokens.mean)
  costs = {m.name: per_call(m) for m in pool}
  assert max(costs, key=costs.get) == gpt5.name
  assert min(costs, key=costs.get) == gemini.name
  assert costs[oss.name] < costs[gpt5.name] / 10
  # reasoning models write longer completions than the non-thinking ones
  assert gpt5.profile.completion_tokens.mean > 2 * gemini.profile.completion_tokens.mean
  assert oss.profile.completion_tokens.mean > pool["moonshotai/kimi-k2-0905"].profile \
      .completion_tokens.mean
