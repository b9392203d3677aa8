"""The trainer: learning, determinism, exact resume, best checkpoint, metrics."""

import dataclasses
import json

import chex
import jax
import numpy as np
import pytest

from mtr_jax.pool.pool import ModelSpec
from mtr_jax.training import checkpoint as ckpt
from mtr_jax.training import train as train_lib
from mtr_jax.training.metrics import MetricWriter, read_metrics
from mtr_jax.training.train import TrainData, default_train_config, train

EPISODES, STEPS, D, K = 60, 20, 16, 3
FINGERPRINT = {"name": "fake-encoder", "dim": D}


def make_data(*, signal=True, seed=0, fingerprint=FINGERPRINT, extra=None):
  """Targets depend on (z_hist, action): a per-model direction plus a model offset."""
  rng = np.random.default_rng(seed)
  n = EPISODES * STEPS
  z_NxD = rng.normal(size=(n, D)).astype(np.float32)
  action_N = rng.integers(0, K, n)
  w_KxD = rng.normal(size=(K, D)) / np.sqrt(D)
  if signal:
    target_N = np.tanh(np.einsum("nd,nd->n", z_NxD, w_KxD[action_N])) + 0.3 * action_N
  else:
    target_N = rng.normal(size=n)
  target_N = target_N + 0.05 * rng.normal(size=n)
  pool = [ModelSpec(f"m{i}", input_price=0.1 * (i + 1), output_price=0.5 * (i + 1))
          for i in range(K)]
  return TrainData.build(z_NxD, action_N, target_N.astype(np.float32),
                         np.repeat(np.arange(EPISODES), STEPS), pool=pool,
                         encoder_fingerprint=fingerprint, lam=1.0,
                         extra_metadata=extra or {"typical_completion_tokens": {"m0": 90}})


def tiny_config(epochs=8, patience=3, seed=0):
  c = default_train_config()
  c.seed = seed
  c.model.meta_widths = (8, 8)
  c.model.residual_dim = 4
  c.model.model_dim = 16
  c.model.q_widths = (32, 32)
  c.optim.epochs = epochs
  c.optim.patience = patience
  return c


def val_losses(result):
  return [r["val_mse"] for r in result.history]


@pytest.fixture(scope="module")
def data():
  return make_data()


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("reference")
  return workdir, train(tiny_config(), data, workdir, progress=False)


def test_validation_loss_decreases(reference):
  _, result = reference
  vals = val_losses(result)
  assert len(vals) == 8 and result.stop_reason == "epochs"
  assert result.best_val_loss < 0.6 * result.initial_val_loss
  assert vals[-1] < vals[0] < result.initial_val_loss
  train_mse = [r["train_mse"] for r in result.history]
  assert train_mse[-1] < train_mse[0]


def steps_per_epoch(result):
  return -(-result.metadata["data"]["num_train"] // 64)


def compiled_programs(result):
  """How many programs the run's train_epoch / eval_mse were compiled into."""
  c = train_lib.resolve_config(tiny_config(), make_data())
  key = (result.graphdef, tuple(sorted(c.optim.to_dict().items())),
         c.optim.epochs * steps_per_epoch(result), float(c.loss.residual_l2))
  _, _, train_epoch, eval_mse = train_lib._programs(*key)
  return train_epoch._cache_size(), eval_mse._cache_size()


def test_one_compiled_program_for_all_epochs(reference):
  # Epoch and step are traced values, not constants: one trace for the whole run.
  assert compiled_programs(reference[1]) == (1, 1)


def test_deterministic_for_a_seed(reference, data, tmp_path):
  _, result = reference
  again = train(tiny_config(), data, tmp_path / "again", progress=False)
  chex.assert_trees_all_equal(again.final_params, result.final_params)
  chex.assert_trees_all_equal(again.params, result.params)
  assert again.history == result.history
  other = train(tiny_config(seed=1), data, tmp_path / "seed1", progress=False)
  assert val_losses(other) != val_losses(result)


class Killed(Exception):
  pass


def test_kill_and_resume_equals_uninterrupted(reference, data, tmp_path):
  _, result = reference

  def kill_after_3(epoch, record):
    if epoch == 3:
      raise Killed

  with pytest.raises(Killed):
    train(tiny_config(), data, tmp_path, progress=False, on_epoch_end=kill_after_3)
  step = ckpt.latest_step(tmp_path / "checkpoints")
  assert step == 3 * steps_per_epoch(result)
  # What a hard kill can leave behind: an unfinished save and metrics of lost work.
  (tmp_path / "checkpoints" / f"{step + 5}.orbax-checkpoint-tmp-1").mkdir()
  with open(tmp_path / "metrics.jsonl", "a") as f:
    f.write(json.dumps({"step": step + 5, "epoch": 4, "val_mse": -1.0}) + "\n")

  resumed = train(tiny_config(), data, tmp_path, progress=False)
  assert resumed.resumed_from_step == step
  chex.assert_trees_all_equal(resumed.final_params, result.final_params)
  chex.assert_trees_all_equal(resumed.params, result.params)
  assert resumed.history == result.history
  assert (resumed.best_step, resumed.best_val_loss) == (result.best_step,
                                                        result.best_val_loss)
  records = read_metrics(tmp_path)
  assert [r["epoch"] for r in records] == list(range(1, 9))
  assert not list((tmp_path / "checkpoints").glob("*tmp*"))
  assert compiled_programs(result) == (1, 1)  # restored state does not recompile


def test_best_checkpoint_has_lowest_val_loss(reference):
  workdir, result = reference
  directory = workdir / "checkpoints"
  vals = val_losses(result)
  best = ckpt.best_step(directory)
  meta = ckpt.read_metadata(directory)
  assert meta["step"] == best == result.best_step
  assert meta["val_loss"] == min(vals) == result.best_val_loss
  params, _ = ckpt.restore_for_inference(workdir)
  chex.assert_trees_all_equal(params, result.params)
  latest, latest_meta = ckpt.restore_for_inference(directory, which="latest")
  chex.assert_trees_all_equal(latest, result.final_params)
  assert latest_meta["progress"]["epoch"] == 8
  assert set(ckpt.all_steps(directory)) == {best, ckpt.latest_step(directory)}


def test_early_stopping_keeps_the_best(data, tmp_path):
  # Validation targets of the opposite sign: the better the fit, the worse the
  # validation MSE (same split as `data`, so the compiled programs are reused).
  _, val_idx = data.split(0.1, seed=0)
  val_mask_N = np.zeros(data.target_N.shape, bool)
  val_mask_N[val_idx] = True
  flipped = dataclasses.replace(data, val_mask_N=val_mask_N,
                                target_N=np.where(val_mask_N, -data.target_N,
                                                  data.target_N))
  result = train(tiny_config(epochs=8, patience=2), flipped, tmp_path, progress=False)
  vals = val_losses(result)
  assert result.stop_reason == "patience"
  assert result.epochs_run == result.best_epoch + 2 < 8
  assert min(vals[result.best_epoch:]) > result.best_val_loss == min(vals)
  directory = tmp_path / "checkpoints"
  assert ckpt.latest_step(directory) > ckpt.best_step(directory) == result.best_step
  assert ckpt.all_steps(directory) == [result.best_step, ckpt.latest_step(directory)]
  meta = ckpt.read_metadata(directory)
  assert meta["val_loss"] == result.best_val_loss
  assert meta["progress"]["epoch"] == result.best_epoch
  latest_meta = ckpt.read_metadata(directory, which="latest")
  assert latest_meta["progress"]["patience_count"] == 2
  with pytest.raises(AssertionError):
    chex.assert_trees_all_equal(result.params, result.final_params)


def test_advance_counts_patience():
  start = {"epoch": 0, "step": 0, "patience_count": 0, "best_val_loss": None,
           "best_epoch": 0, "best_step": 0, "finished": False, "stop_reason": None}
  prog, seen = start, []
  for val in (1.0, 1.2, 0.9, 0.9, 1.1):  # a tie is no improvement
    prog = train_lib.advance(prog, val, prog["step"] + 10, patience=2, epochs=100)
    seen.append((prog["patience_count"], prog["best_epoch"], prog["stop_reason"]))
  assert seen == [(0, 1, None), (1, 1, None), (0, 3, None), (1, 3, None),
                  (2, 3, "patience")]
  assert (prog["best_step"], prog["best_val_loss"], prog["finished"]) == (30, 0.9, True)
  prog = train_lib.advance({**start, "epoch": 7}, None, 99, patience=1, epochs=8)
  assert (prog["best_step"], prog["stop_reason"]) == (99, "epochs")


def test_without_validation_the_last_epoch_is_best(data, tmp_path):
  config = tiny_config(epochs=2)
  config.val_fraction = 0.0
  result = train(config, data, tmp_path, progress=False)
  assert result.best_val_loss is None and result.initial_val_loss is None
  directory = tmp_path / "checkpoints"
  assert result.best_step == ckpt.best_step(directory) == ckpt.latest_step(directory)
  chex.assert_trees_all_equal(result.params, result.final_params)


def test_metrics_jsonl_one_line_per_epoch(reference):
  workdir, result = reference
  records = read_metrics(workdir)
  assert len(records) == result.epochs_run == 8
  assert [r["epoch"] for r in records] == list(range(1, 9))
  steps = [r["step"] for r in records]
  assert steps == sorted(steps) and len(set(steps)) == 8
  for r, h in zip(records, result.history):
    assert r["val_mse"] == h["val_mse"] and r["train_mse"] == h["train_mse"]
    assert r["epoch_s"] > 0 and r["train_samples_per_s"] > 0
  assert records[-1]["lr"] == pytest.approx(1e-5)


def test_rerun_of_a_finished_run_does_not_train(reference, data):
  workdir, result = reference
  again = train(tiny_config(), data, workdir, progress=False)
  assert again.resumed_from_step == ckpt.latest_step(workdir / "checkpoints")
  chex.assert_trees_all_equal(again.final_params, result.final_params)
  assert len(read_metrics(workdir)) == 8


def test_resume_refuses_another_config_data_or_encoder(reference, data):
  workdir, _ = reference
  config = tiny_config()
  config.optim.lr = 3e-4
  with pytest.raises(ckpt.CheckpointError, match="another config.*optim"):
    train(config, data, workdir, progress=False)
  with pytest.raises(ckpt.CheckpointError, match="other training data"):
    train(tiny_config(), make_data(seed=5), workdir, progress=False)
  with pytest.raises(ckpt.CheckpointError, match="other-encoder"):
    train(tiny_config(), make_data(fingerprint={"name": "other-encoder", "dim": D}),
          workdir, progress=False)


def test_checkpoint_metadata_is_complete(reference, data):
  workdir, result = reference
  meta = result.metadata
  assert meta["pool"] == [dict(m) for m in data.pool]
  assert meta["pool"][1]["input_price"] == pytest.approx(0.2)
  assert meta["feature_stats"] == data.feature_stats.to_dict()
  assert meta["encoder_fingerprint"] == FINGERPRINT
  assert meta["lambda"] == 1.0 and meta["known_models"] == ["m0", "m1", "m2"]
  assert meta["estimator_config"] == meta["config"]["model"]
  assert ckpt.estimator_config(meta).hist_dim == D
  assert meta["config"]["model"]["hist_dim"] == D
  assert meta["config"]["model"]["num_known_models"] == K
  prog = meta["progress"]
  assert prog["rng_key_data"] == jax.random.key_data(jax.random.key(0)).tolist()
  assert {"epoch", "step", "patience_count", "best_val_loss"} <= set(prog)
  assert meta["package_version"] and meta["step"] == result.best_step
  assert meta["typical_completion_tokens"] == {"m0": 90}


def test_extra_metadata_may_not_replace_trainer_keys(tmp_path):
  with pytest.raises(ValueError, match="lambda"):
    train(tiny_config(), make_data(extra={"lambda": 2.0}), tmp_path, progress=False)


def test_split_is_grouped_by_episode_and_deterministic(data):
  train_idx, val_idx = data.split(0.1, seed=0)
  assert len(np.intersect1d(data.episode_N[train_idx], data.episode_N[val_idx])) == 0
  assert len(np.unique(data.episode_N[val_idx])) == 6
  assert len(train_idx) + len(val_idx) == EPISODES * STEPS
  again = data.split(0.1, seed=0)
  np.testing.assert_array_equal(again[1], val_idx)
  assert not np.array_equal(data.split(0.1, seed=1)[1], val_idx)


def test_config_must_match_the_data(data, tmp_path):
  config = tiny_config()
  config.model.hist_dim = D + 1
  with pytest.raises(ValueError, match="hist_dim"):
    train(config, data, tmp_path, progress=False)


def test_train_data_validation():
  good = make_data()
  with pytest.raises(ValueError, match="action_N"):
    TrainData.build(good.z_hist_NxD, good.action_N + K, good.target_N, good.episode_N,
                    pool=good.pool, encoder_fingerprint=FINGERPRINT, lam=1.0)
  with pytest.raises(ValueError, match="target_N"):
    TrainData.build(good.z_hist_NxD, good.action_N, good.target_N[:-1], good.episode_N,
                    pool=good.pool, encoder_fingerprint=FINGERPRINT, lam=1.0)


def test_metric_writer_offline_wandb_and_other_processes(tmp_path, monkeypatch):
  monkeypatch.setenv("WANDB_MODE", "offline")
  monkeypatch.setenv("WANDB_SILENT", "true")
  with MetricWriter(tmp_path / "w", config={"a": 1}, group="g") as writer:
    writer.write(1, {"loss": np.float32(0.5), "epoch": 1})
    writer.write(2, {"loss": float("nan"), "epoch": 2})
  assert read_metrics(tmp_path / "w") == [{"step": 1, "loss": 0.5, "epoch": 1},
                                          {"step": 2, "loss": None, "epoch": 2}]
  assert list((tmp_path / "w" / "wandb").glob("offline-run-*"))
  with MetricWriter(tmp_path / "w", keep_until=1, use_wandb=False) as writer:
    writer.write(2, {"loss": 0.25})
  assert [r["loss"] for r in read_metrics(tmp_path / "w")] == [0.5, 0.25]
  monkeypatch.setattr(jax, "process_index", lambda: 1)
  with MetricWriter(tmp_path / "p1") as writer:
    writer.write(1, {"loss": 1.0})
  assert not (tmp_path / "p1").exists()


def test_warm_start_begins_from_the_given_checkpoint(reference, data, tmp_path):
  workdir, result = reference
  warm = train(tiny_config(epochs=1), data, tmp_path / "warm", progress=False,
               init_from=workdir)
  # the warm run's initial validation loss is the reference's best, not a fresh init's
  assert warm.initial_val_loss == pytest.approx(result.best_val_loss, rel=1e-6)
  assert warm.metadata["progress"]["warm_start_from"] == str(workdir)
  cold = train(tiny_config(epochs=1), data, tmp_path / "cold", progress=False)
  assert cold.initial_val_loss == pytest.approx(result.initial_val_loss, rel=1e-6)
  other = make_data(fingerprint={"name": "other", "dim": D})
  with pytest.raises(ckpt.CheckpointError, match="fingerprint"):
    train(tiny_config(epochs=1), other, tmp_path / "bad", progress=False, init_from=workdir)


def test_relative_workdir(data, tmp_path, monkeypatch):
  """Orbax rejects relative paths; a user's `--workdir=runs/x` must still work."""
  monkeypatch.chdir(tmp_path)
  result = train(tiny_config(epochs=1), data, "runs/relative", progress=False)
  assert (tmp_path / "runs" / "relative" / "checkpoints").is_dir()
  params, _ = ckpt.restore_for_inference("runs/relative")
  chex.assert_trees_all_equal(params, result.params)
