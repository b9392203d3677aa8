"""Collection: parallel workers, resume without rewriting, crash isolation, summary."""

import json
import os

import pytest

from mtr_jax.envs.base import TaskRef
from mtr_jax.rollout.collect import collect, plan_jobs, select_refs
from mtr_jax.pool import load_pool
from mtr_jax.trajectories import read_trajectory

REFS = [TaskRef(t, v) for t in ("fetch", "plant") for v in range(4)]


def _files(out):
  return sorted(p for p in out.rglob("*.traj.json"))


def test_roulette_collection_and_resume(tmp_path):
  out = tmp_path / "roulette"
  s1 = collect("mtr_jax.envs.toy:ToyEnv", REFS, mode="roulette", runs=2, workers=2,
               out=out, progress=False)
  files = _files(out)
  assert len(files) == 16 and s1["collected_now"] == 16 and s1["failed"] == 0
  traj = read_trajectory(files[0])
  assert all(abs(s.propensity - 1 / 6) < 1e-12 for s in traj.steps)
  stamps = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
  s2 = collect("mtr_jax.envs.toy:ToyEnv", REFS, mode="roulette", runs=2, workers=1,
               out=out, progress=False)
  assert s2["collected_now"] == 0 and s2["skipped_existing"] == 16
  assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in _files(out)} == stamps
  summary = json.loads((out / "summary.json").read_text())
  assert summary["overall"]["episodes"] == 16
  assert set(summary["per_task"]) == {"fetch", "plant"}
  assert "simulated" in summary["note"]
  usage = summary["overall"]["model_usage"]
  assert len(usage) == 6 and abs(sum(u["share"] for u in usage.values()) - 1) < 1e-9


def test_parallel_equals_serial(tmp_path):
  a = collect("mtr_jax.envs.toy:ToyEnv", REFS[:3], mode="roulette", workers=2,
              out=tmp_path / "a", progress=False)
  b = collect("mtr_jax.envs.toy:ToyEnv", REFS[:3], mode="roulette", workers=1,
              out=tmp_path / "b", progress=False)
  for pa, pb in zip(_files(tmp_path / "a"), _files(tmp_path / "b")):
    assert pa.read_text() == pb.read_text()
  assert a["overall"] == b["overall"]


def test_baseline_per_model_folders_and_summary(tmp_path):
  pool = load_pool("paper6")
  out = tmp_path / "base"
  s = collect("mtr_jax.envs.toy:ToyEnv", REFS[:2], mode="baseline",
              models=["openai/gpt-5", "openai/gpt-oss-120b"], out=out, progress=False)
  assert (out / "openai_gpt-5" / "fetch" / "fetch_var0_run0.traj.json").exists()
  assert set(s["per_model"]) == {"openai/gpt-5", "openai/gpt-oss-120b"}
  for m, agg in s["per_model"].items():
    assert list(agg["model_usage"]) == [m]
  with pytest.raises(KeyError, match="unknown model"):
    plan_jobs("toy", REFS, mode="baseline", pool=pool, models=["nope"], runs=1, out=out)


def test_environment_crash_and_killed_worker_are_retried(tmp_path, monkeypatch):
  monkeypatch.setenv("MTR_CRASH_DIR", str(tmp_path))
  out = tmp_path / "crashy"
  s = collect("crashy_env:KillingEnv", REFS, mode="roulette", workers=2, out=out,
              progress=False)
  assert (tmp_path / "raise-fetch-1").exists() and (tmp_path / "kill-fetch-2").exists()
  assert s["failed"] == 0 and len(_files(out)) == len(REFS)
  # the retried episodes equal a clean run of the same seeds
  clean = tmp_path / "clean"
  collect("mtr_jax.envs.toy:ToyEnv", REFS, mode="roulette", workers=1, out=clean,
          progress=False)
  for a, b in zip(_files(out), _files(clean)):
    assert a.read_text() == b.read_text()


def test_select_refs():
  assert len(select_refs(REFS, max_variations=2)) == 4
  assert {r.task for r in select_refs(REFS, tasks=["plant"])} == {"plant"}
  with pytest.raises(ValueError, match="not in this split"):
    select_refs(REFS, tasks=["boil"])


def test_a_folder_refuses_another_router(tmp_path):
  from mtr_jax.rollout.collect import RouterSpec
  out = tmp_path / "r"
  collect("mtr_jax.envs.toy:ToyEnv", REFS[:1], mode="roulette", out=out, progress=False)
  with pytest.raises(ValueError, match="use another --out"):
    collect("mtr_jax.envs.toy:ToyEnv", REFS[:1], mode="roulette", out=out, progress=False,
            router=RouterSpec(mode="roulette", seed=1))
  with pytest.raises(ValueError, match="use another --out"):
    collect("mtr_jax.envs.toy:ToyEnv", REFS[:1], mode="baseline", out=out, progress=False)


def test_a_summary_from_before_a_new_router_field_still_resumes(tmp_path):
  """Folders written before RouterSpec gained a field (e.g. lam) resume as long as
  the new field has its default."""
  import json

  from mtr_jax.rollout.collect import RouterSpec
  out = tmp_path / "r"
  collect("mtr_jax.envs.toy:ToyEnv", REFS[:1], mode="roulette", out=out, progress=False)
  summary = json.loads((out / "summary.json").read_text())
  del summary["router"]["lam"]
  (out / "summary.json").write_text(json.dumps(summary))
  again = collect("mtr_jax.envs.toy:ToyEnv", REFS[:1], mode="roulette", out=out,
                  progress=False)
  assert again["collected_now"] == 0
  (out / "summary.json").write_text(json.dumps(summary))
  with pytest.raises(ValueError, match="use another --out"):
    collect("mtr_jax.envs.toy:ToyEnv", REFS[:1], mode="roulette", out=out, progress=False,
            router=RouterSpec(mode="roulette", lam=0.5))
