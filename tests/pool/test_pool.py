"""Pool YAML loading and validation."""

import textwrap

import pytest

from mtr_jax.pool import PoolError, load_pool

GOOD_MODEL = """
  - name: a/model
    input_price: 0.5
    output_price: 1.0
    profile:
      skill: {navigation: 0.9, manipulation: 0.8, critical: 0.7}
      completion_tokens: {mean: 100}
"""


def _write(tmp_path, body):
  path = tmp_path / "pool.yaml"
  path.write_text(textwrap.dedent(body))
  return path


def test_paper6_matches_the_paper():
  pool = load_pool("paper6")
  assert pool.names == ("openai/gpt-5", "deepseek/deepseek-v3.2", "minimax/minimax-m2",
                        "moonshotai/kimi-k2-0905", "google/gemini-2.5-flash-lite",
                        "openai/gpt-oss-120b")
  gpt5 = pool["openai/gpt-5"]
  assert (gpt5.input_price, gpt5.output_price) == (1.25, 10.0)
  assert (gpt5.max_input_tokens, gpt5.max_output_tokens) == (400000, 128000)
  assert str(gpt5.knowledge_cutoff) == "2024-09-30"
  assert pool["moonshotai/kimi-k2-0905"].knowledge_cutoff is None
  assert pool["google/gemini-2.5-flash-lite"].max_input_tokens == 1048576
  assert gpt5.cost(1_000_000, 100_000) == pytest.approx(1.25 + 1.0)
  assert all(m.backend == "simulated" and m.profile is not None for m in pool)


def test_subset_and_unknown_model():
  pool = load_pool("paper6")
  sub = pool.subset(["openai/gpt-oss-120b", "openai/gpt-5"])
  assert sub.names == ("openai/gpt-oss-120b", "openai/gpt-5")
  with pytest.raises(KeyError, match="unknown model 'x/y'"):
    pool["x/y"]


@pytest.mark.parametrize("bad, field", [
    (GOOD_MODEL.replace("    input_price: 0.5\n", ""), "input_price"),
    (GOOD_MODEL.replace("input_price: 0.5", "input_price: -0.5"), "input_price"),
    (GOOD_MODEL.replace("input_price: 0.5", "input_price: .nan"), "input_price"),
    (GOOD_MODEL.replace("input_price: 0.5", "input_price: cheap"), "input_price"),
    (GOOD_MODEL + "    colour: blue\n", "colour"),
    (GOOD_MODEL + "    backend: anthropic\n", "backend"),
    (GOOD_MODEL.replace("critical: 0.7", "critical: 1.7"), "profile.skill.critical"),
    (GOOD_MODEL.replace(", critical: 0.7", ""), "profile.skill.critical"),
    (GOOD_MODEL.replace("{mean: 100}", "{mean: 0}"), "profile.completion_tokens.mean"),
    (GOOD_MODEL + "    max_input_tokens: 12.5\n", "max_input_tokens"),
    (GOOD_MODEL + "    knowledge_cutoff: last spring\n", "knowledge_cutoff"),
    (GOOD_MODEL + "    backend: openai\n", "endpoint"),
])
def test_malformed_model_names_file_model_and_field(tmp_path, bad, field):
  path = _write(tmp_path, "name: t\nmodels:\n" + bad)
  with pytest.raises(PoolError) as e:
    load_pool(path)
  msg = str(e.value)
  assert str(path) in msg and "'a/model'" in msg and field in msg


def test_openai_entry_and_duplicate_names(tmp_path):
  body = "name: t\nmodels:\n" + GOOD_MODEL + """
  - name: remote
    input_price: 1
    output_price: 2
    backend: openai
    endpoint: {base_url: "http://127.0.0.1:9/v1", api_key_env: MY_KEY, timeout_s: 5}
"""
  pool = load_pool(_write(tmp_path, body))
  assert pool["remote"].endpoint.api_key_env == "MY_KEY"
  assert pool["remote"].profile is None
  with pytest.raises(PoolError, match="duplicate model names"):
    load_pool(_write(tmp_path, "name: t\nmodels:\n" + GOOD_MODEL + GOOD_MODEL))


@pytest.mark.parametrize("body, needle", [
    ("models: [\n", "not valid YAML"),
    ("name: t\nmodels: []\n", "'models'"),
    ("- just a list\n", "expected a mapping"),
    ("name: t\nmodels:\n" + GOOD_MODEL + "extra_top: 1\n", "extra_top"),
])
def test_malformed_files(tmp_path, body, needle):
  path = _write(tmp_path, body)
  with pytest.raises(PoolError, match=needle) as e:
    load_pool(path)
  assert str(path) in str(e.value)


def test_unknown_pool_name():
  with pytest.raises(PoolError, match="unknown pool 'nope'.*paper6"):
    load_pool("nope")


def test_sub_pools_by_selector():
  from mtr_jax.pool import load_pool
  no_gpt5 = load_pool("paper6:drop=gpt-5")
  assert "openai/gpt-5" not in no_gpt5.names and len(no_gpt5) == 5
  assert load_pool(no_gpt5.source).names == no_gpt5.names  # what a worker reloads
  two = load_pool("paper6:keep=gpt-oss-120b,google/gemini-2.5-flash-lite")
  assert two.names == ("openai/gpt-oss-120b", "google/gemini-2.5-flash-lite")
  cheap = load_pool("paper6:max_output_price=0.5")
  assert all(m.output_price <= 0.5 for m in cheap) and 0 < len(cheap) < 6
  assert two["openai/gpt-oss-120b"] == load_pool("paper6")["openai/gpt-oss-120b"]


@pytest.mark.parametrize("text, match", [
    ("paper6:drop=gpt-9", "names no model"),
    ("paper6:keep=", "expected one of"),
    ("paper6:colour=red", "expected one of"),
    ("paper6:max_output_price=cheap", "not a number"),
    ("paper6:max_output_price=0.0001", "leaves no model"),
])
def test_bad_pool_selectors(text, match):
  from mtr_jax.pool import PoolError, load_pool
  with pytest.raises(PoolError, match=match) as e:
    load_pool(text)
  assert text in str(e.value)
