"""Launchers: sweep expansion, manifest, local pool (failure isolation, resume),
shared estimators, run_one, and the SLURM / W&B files."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from launch import cli, local, run_one, slurm, sweep, wandb_sweep
from launch import manifest as mf

REPO = Path(__file__).resolve().parents[2]

CONFIG = textwrap.dedent('''
    import ml_collections

    ROUTING_KEYS = ("route",)

    def get_config(arg=None):
      c = ml_collections.ConfigDict()
      c.x = 0
      c.fail = False
      c.train = ml_collections.ConfigDict({"seed": 0})
      c.route = ml_collections.ConfigDict({"budget": 1.0})
      return c

    def sweep(add):
    {body}
    ''')

THREE = """\
  add(x=1)
  add(x=2, fail=True)
  add(**{"x": 3, "train.seed": 1})"""


def write_config(tmp_path, body=THREE, name="cfg.py") -> str:
  path = tmp_path / name
  path.write_text(CONFIG.replace("{body}", body))
  return str(path)


def calls(workdir, job) -> int:
  f = Path(workdir) / job["outputs"]["workdir"] / "calls.txt"
  return len(f.read_text().splitlines()) if f.exists() else 0


# ---------------------------------------------------------------------------
# Expansion.


def test_expansion_ids_are_stable_hashes_of_the_overrides(tmp_path):
  jobs = sweep.expand(write_config(tmp_path))
  assert [j.name for j in jobs] == ["x=1", "x=2,fail=True", "x=3,seed=1"]
  assert [j.index for j in jobs] == [0, 1, 2]
  assert len({j.id for j in jobs}) == 3 and all(len(j.id) == 12 for j in jobs)
  assert jobs[2].overrides == {"x": 3, "train.seed": 1}
  assert jobs[2].config == {"fail": False, "route": {"budget": 1.0},
                            "train": {"seed": 1}, "x": 3}
  # Same overrides -> same id, whatever the order of jobs or of keys.
  reordered = write_config(tmp_path, """\
  add(**{"train.seed": 1, "x": 3})
  add(x=1)""", "cfg2.py")
  again = {j.overrides["x"]: j.id for j in sweep.expand(reordered)}
  assert again == {1: jobs[0].id, 3: jobs[2].id}
  # Base overrides (--config.a.b=v) reach every job, without changing ids.
  based = sweep.expand(write_config(tmp_path), ["route.budget=0.25"])
  assert [j.id for j in based] == [j.id for j in jobs]
  assert all(j.config["route"]["budget"] == 0.25 for j in based)


def test_expansion_refuses_duplicates_unknown_keys_and_non_json(tmp_path):
  with pytest.raises(ValueError, match="same overrides twice"):
    sweep.expand(write_config(tmp_path, "  add(x=1)\n  add(x=1)"))
  with pytest.raises(ValueError, match="no field 'nope'"):
    sweep.expand(write_config(tmp_path, "  add(**{'train.nope': 1})"))
  with pytest.raises(ValueError, match="plain JSON"):
    sweep.expand(write_config(tmp_path, "  add(x=object())"))
  with pytest.raises(ValueError, match="share"):
    sweep.expand(write_config(tmp_path, "  add(x=1, share='everything')"))


def test_the_default_config_sweeps_routing_time_settings_on_one_estimator():
  jobs = sweep.expand(str(REPO / "experiments/configs/default.py") + ":quick")
  assert [j.name for j in jobs] == ["lam=0", "lam=0.3", "lam=1", "without GPT-5",
                                    "budget $0.05"]
  assert [j.config["route"]["lam"] for j in jobs[:3]] == [0.0, 0.3, 1.0]
  assert jobs[3].config["route"]["pool"] == "paper6:drop=gpt-5"
  assert jobs[4].config["route"]["cost_limit"] == 0.05
  assert all(j.share == "estimator" and j.config["train"]["model"]["heads"] == 2
             for j in jobs)
  assert len({j.train_key for j in jobs}) == 1  # one training for the whole sweep
  assert len(sweep.expand(str(REPO / "experiments/configs/default.py"))) == 7


def test_the_retrain_variant_sweeps_the_training_lambda():
  jobs = sweep.expand(str(REPO / "experiments/configs/default.py") + ":quick,retrain")
  assert [j.overrides for j in jobs] == [{"data.lam": v} for v in (0.0, 0.3, 1.0)]
  assert all(j.share is None for j in jobs)


def test_dry_run_prints_the_jobs_and_writes_nothing(tmp_path, capsys):
  workdir = tmp_path / "sweep"
  code = local.main([f"--config={write_config(tmp_path)}", f"--workdir={workdir}",
                     "--dry-run", "--entry=fake_entries:run"])
  out = capsys.readouterr().out
  assert code == 0 and not workdir.exists()
  assert "x=1" in out and "x=3,seed=1" in out and "3 pending" in out
  assert "would write" in out and "nothing was written" in out


# ---------------------------------------------------------------------------
# Running locally.


def test_local_pool_isolates_a_failure_and_a_rerun_skips_done_jobs(tmp_path, capsys):
  cfg, workdir = write_config(tmp_path), tmp_path / "sweep"
  args = [f"--config={cfg}", f"--workdir={workdir}", "--workers=2",
          "--entry=fake_entries:run"]
  assert local.main(args) == 1  # one job failed
  m = json.loads((workdir / "manifest.json").read_text())
  assert m["format"] == mf.FORMAT and m["entry"] == "fake_entries:run"
  assert m["counts"] == {"pending": 0, "running": 0, "done": 2, "failed": 1}
  by_x = {j["overrides"]["x"]: j for j in m["jobs"]}
  assert [by_x[x]["status"] for x in (1, 2, 3)] == ["done", "failed", "done"]
  failed = by_x[2]
  assert "ValueError: boom in job x=2" in failed["error"]
  assert "Traceback" in failed["error"] and failed["outputs"]["report"] is None
  for x in (1, 3):
    job = by_x[x]
    assert job["error"] is None and job["attempts"] == 1
    assert job["outputs"]["report"] == f"jobs/{job['id']}/report.json"
    assert (workdir / job["outputs"]["report"]).exists()
    assert job["timings"]["seconds"] >= 0 and job["timings"]["finished_at"]
  assert (workdir / "jobs" / by_x[3]["id"] / "out.txt").read_text() == "x=3 seed=1\n"
  assert "fake job x=2" in (workdir / failed["outputs"]["log"]).read_text()
  assert by_x[1]["config"]["x"] == 1 and by_x[3]["config"]["train"]["seed"] == 1
  capsys.readouterr()

  assert local.main(args) == 1  # the failure is deterministic
  out = capsys.readouterr().out
  assert "1 of 3 jobs to run" in out
  m = mf.load(workdir)
  by_x = {j["overrides"]["x"]: j for j in m["jobs"]}
  assert [calls(workdir, by_x[x]) for x in (1, 2, 3)] == [1, 2, 1]
  assert by_x[2]["attempts"] == 2 and by_x[1]["attempts"] == 1

  # a done job whose folder was deleted runs again (its outputs are gone)
  import shutil
  shutil.rmtree(workdir / "jobs" / by_x[1]["id"])
  assert mf.load(workdir)["counts"]["pending"] == 1
  capsys.readouterr()
  local.main(args)
  assert "2 of 3 jobs to run" in capsys.readouterr().out
  by_x = {j["overrides"]["x"]: j for j in mf.load(workdir)["jobs"]}
  assert by_x[1]["status"] == "done" and (workdir / by_x[1]["outputs"]["report"]).exists()


def test_a_crashed_worker_fails_only_its_job(tmp_path):
  cfg, workdir = write_config(tmp_path), tmp_path / "sweep"
  code = local.main([f"--config={cfg}", f"--workdir={workdir}", "--workers=1",
                     "--entry=fake_entries:crash"])
  m = mf.load(workdir)
  by_x = {j["overrides"]["x"]: j for j in m["jobs"]}
  assert code == 1 and [by_x[x]["status"] for x in (1, 2, 3)] == ["done", "failed", "done"]
  assert "worker process died" in by_x[2]["error"]


def test_routing_time_jobs_share_one_estimator(tmp_path):
  body = """\
  for budget in (0.25, 0.5, 1.0):
    add(**{"x": 7, "route.budget": budget}, share="estimator")
  add(**{"x": 8, "route.budget": 0.5}, share="estimator")"""
  cfg, workdir = write_config(tmp_path, body), tmp_path / "sweep"
  jobs = sweep.expand(cfg)
  assert len({j.train_key for j in jobs[:3]}) == 1 and jobs[3].train_key != jobs[0].train_key
  # The default entry cannot train into a shared folder: refused before anything runs.
  with pytest.raises(ValueError, match="estimator_workdir"):
    cli.prepare(cfg, workdir, entry="fake_entries:run")
  assert local.main([f"--config={cfg}", f"--workdir={workdir}", "--workers=2",
                     "--entry=fake_entries:shared"]) == 0
  m = mf.load(workdir)
  shared = {j["outputs"]["estimator_workdir"] for j in m["jobs"]}
  assert len(shared) == 2
  est = workdir / m["jobs"][0]["outputs"]["estimator_workdir"]
  assert (est / "trainings.log").read_text().count("trained") == 1
  assert (est / "READY").exists()
  outs = [(workdir / j["outputs"]["workdir"] / "out.txt").read_text() for j in m["jobs"][:3]]
  assert [o.split()[0] for o in outs] == ["budget=0.25", "budget=0.5", "budget=1.0"]


def test_a_finished_job_whose_config_changed_is_refused(tmp_path):
  cfg, workdir = write_config(tmp_path, "  add(x=1)"), tmp_path / "sweep"
  assert local.main([f"--config={cfg}", f"--workdir={workdir}",
                     "--entry=fake_entries:run"]) == 0
  Path(cfg).write_text(Path(cfg).read_text().replace("c.fail = False", "c.fail = 0.5"))
  with pytest.raises(ValueError, match="another config"):
    cli.prepare(cfg, workdir)


# ---------------------------------------------------------------------------
# One entry at a time (SLURM tasks, W&B runs).


def test_run_one_runs_an_entry_and_updates_the_manifest(tmp_path, capsys):
  cfg, workdir = write_config(tmp_path), tmp_path / "sweep"
  path = cli.prepare(cfg, workdir, entry="fake_entries:run")
  assert json.loads(path.read_text())["counts"]["pending"] == 3
  assert run_one.main(["--manifest", str(path), "--index", "0"]) == 0
  assert run_one.main(["--manifest", str(workdir), "--index", "1"]) == 1
  m = mf.load(path)
  assert [j["status"] for j in m["jobs"]] == ["done", "failed", "pending"]
  assert json.loads(path.read_text())["counts"]["done"] == 1  # the file, not only the view
  capsys.readouterr()
  assert run_one.main(["--manifest", str(path), "--index", "0"]) == 0
  assert "already done; skipped" in capsys.readouterr().out
  assert calls(workdir, m["jobs"][0]) == 1
  # A W&B agent's arguments pick the job by its overrides (YAML values) or its id.
  assert run_one.main(["--manifest", str(path), "--from-wandb", "--x=3",
                       "--train.seed=1"]) == 0
  assert mf.load(path)["jobs"][2]["status"] == "done"
  assert run_one.main(["--manifest", str(path), "--from-wandb", f"--job={m['jobs'][1]['id']}",
                       "--force"]) == 1
  with pytest.raises(SystemExit):
    run_one.main(["--manifest", str(path), "--from-wandb", "--x=99"])


def test_slurm_array_script(tmp_path, capsys):
  cfg, workdir = write_config(tmp_path), tmp_path / "sweep"
  assert slurm.main([f"--config={cfg}", f"--workdir={workdir}", "--entry=fake_entries:run",
                     "--partition=cpu", "--time=01:00:00", "--cpus-per-task=2",
                     "--mem=4G", "--setup=source .venv/bin/activate",
                     "--sbatch=--account=proj"]) == 0
  script = (workdir / "slurm" / "array.sbatch").read_text()
  manifest_file = (workdir / "manifest.json").resolve()
  assert script.startswith("#!/bin/bash\n")
  for line in ("#SBATCH --array=0-2", "#SBATCH --partition=cpu", "#SBATCH --time=01:00:00",
               "#SBATCH --cpus-per-task=2", "#SBATCH --mem=4G", "#SBATCH --account=proj",
               f"#SBATCH --output={workdir.resolve()}/slurm/%A_%a.out",
               "source .venv/bin/activate", f"cd {REPO}",
               f'python -m launch.run_one --manifest {manifest_file} '
               f'--index "$SLURM_ARRAY_TASK_ID"'):
    assert line in script, line
  assert f"sbatch {workdir.resolve()}/slurm/array.sbatch" in capsys.readouterr().out
  # Done jobs leave the array; the indices stay those of the manifest.
  assert run_one.main(["--manifest", str(manifest_file), "--index", "1", "--force"]) == 1
  assert run_one.main(["--manifest", str(manifest_file), "--index", "0"]) == 0
  text = slurm.slurm_script(mf.load(manifest_file), manifest_file, max_parallel=4)
  assert "#SBATCH --array=1-2%4" in text
  assert slurm.ranges([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"


def test_wandb_sweep_yaml(tmp_path, capsys):
  grid = """\
  for lam in (0.5, 1.0):
    for seed in (0, 1, 2):
      add(**{"route.budget": lam, "train.seed": seed})"""
  cfg, workdir = write_config(tmp_path, grid), tmp_path / "grid"
  assert wandb_sweep.main([f"--config={cfg}", f"--workdir={workdir}",
                           "--entry=fake_entries:run", "--project=proj",
                           "--entity=me"]) == 0
  text = (workdir / "wandb_sweep.yaml").read_text()
  conf = yaml.safe_load(text)
  assert conf["method"] == "grid" and conf["project"] == "proj" and conf["name"] == "grid"
  assert conf["parameters"] == {"route.budget": {"values": [0.5, 1.0]},
                                "train.seed": {"values": [0, 1, 2]}}
  manifest_file = str((workdir / "manifest.json").resolve())
  assert conf["command"] == ["${env}", "python", "-m", "launch.run_one", "--manifest",
                             manifest_file, "--from-wandb", "${args}"]
  out = capsys.readouterr().out
  assert "wandb sweep --project proj" in out and "wandb agent --count 6 me/proj/<SWEEP_ID>" in out
  # The agent's ${args} for one grid point select exactly that manifest entry.
  assert run_one.main(["--manifest", manifest_file, "--from-wandb", "--route.budget=1.0",
                       "--train.seed=2"]) == 0
  assert mf.load(manifest_file)["jobs"][5]["status"] == "done"
  # Not a full grid: one `job` parameter listing the manifest's ids.
  cfg3, work3 = write_config(tmp_path, THREE, "three.py"), tmp_path / "three"
  path = cli.prepare(cfg3, work3, entry="fake_entries:run")
  conf = yaml.safe_load(wandb_sweep.write_sweep_yaml(path).read_text())
  assert conf["parameters"] == {"job": {"values": [j["id"] for j in mf.load(path)["jobs"]]}}


def test_plot_a_sweep_from_its_reports(tmp_path):
  from launch import plot
  cfg, workdir = write_config(tmp_path, "  for x in (1, 2, 4):\n    add(x=x)"), tmp_path / "s"
  path = cli.prepare(cfg, workdir, entry="fake_entries:report")
  for i in range(3):
    assert run_one.main(["--manifest", str(path), "--index", str(i)]) == 0
  rows, checkpoints = plot.sweep_rows(workdir)
  ours = [r for r in rows if r["router"] == "MTRouter (ours)"]
  assert [r["label"] for r in ours] == ["x=1", "x=2", "x=4"]
  assert [r["mean_cost"] for r in ours] == [0.01, 0.02, 0.04]
  gpt5 = next(r for r in rows if r["router"] == "openai/gpt-5")
  assert gpt5["jobs"] == 3 and gpt5["mean_score"] == 60.0
  paths = plot.plot_sweep(workdir)
  assert {"pareto", "bars", "rows"} <= set(paths) and "embeddings" not in paths
  assert paths["pareto"].stat().st_size > 10_000 and paths["bars"].stat().st_size > 10_000
  saved = json.loads(paths["rows"].read_text())
  assert saved["frontier"]["hull"]["labels"] == ["x=1", "x=2", "x=4"]
  assert 0 < saved["frontier"]["apgr"] < 1
  table = json.loads((workdir / "plots/wandb_run/tables/pareto_table.json").read_text())
  assert len(table["rows"]) == len(rows)
  lines = json.loads((workdir / "plots/wandb_run/tables/cost_score.json").read_text())
  assert lines["series"]["MTRouter"] == [[r["mean_cost"], r["mean_score"]] for r in ours]
