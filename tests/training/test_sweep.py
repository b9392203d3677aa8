"""Vmapped multi-config training: equal to separate runs, per-member early stopping,
sharded equal to unsharded, shape checks."""

import dataclasses
import json

import chex
import jax
import numpy as np
import pytest

from mtr_jax.pool.pool import ModelSpec
from mtr_jax.training import checkpoint as ckpt
from mtr_jax.training import sweep_layout
from mtr_jax.training.sweep import sweep_programs, train_sweep
from mtr_jax.training.train import (TrainData, default_train_config, resolve_config,
                                    train)

EPISODES, STEPS, D, K = 40, 10, 8, 3
EPOCHS = 4
ATOL = 1e-5


def make_data(steps_per_episode=None, seed=0):
  """Targets depend on (z_hist, action); episodes of `steps_per_episode` rows."""
  rng = np.random.default_rng(seed)
  steps = np.full(EPISODES, STEPS) if steps_per_episode is None else steps_per_episode
  episode_N = np.repeat(np.arange(EPISODES), steps)
  n = len(episode_N)
  z_NxD = rng.normal(size=(n, D)).astype(np.float32)
  action_N = rng.integers(0, K, n)
  w_KxD = rng.normal(size=(K, D)) / np.sqrt(D)
  target_N = np.tanh(np.einsum("nd,nd->n", z_NxD, w_KxD[action_N])) + 0.3 * action_N
  pool = [ModelSpec(f"m{i}", input_price=0.1 * (i + 1), output_price=0.5 * (i + 1))
          for i in range(K)]
  return TrainData.build(z_NxD, action_N, target_N.astype(np.float32), episode_N,
                         pool=pool, encoder_fingerprint={"name": "fake", "dim": D},
                         lam=1.0, extra_metadata={"typical_completion_tokens": {}})


def tiny_config(seed=0, **changes):
  c = default_train_config()
  c.seed = seed
  c.model.meta_widths = (8,)
  c.model.residual_dim = 4
  c.model.model_dim = 8
  c.model.q_widths = (16, 16)
  c.optim.batch_size = 32
  c.optim.epochs = EPOCHS
  c.optim.patience = 1  # every config below improves each epoch but the noise one
  for field, value in changes.items():
    *groups, name = field.split(".")
    (c[groups[0]] if groups else c)[name] = value
  return c


CONFIGS = [tiny_config(0),
           tiny_config(1, **{"optim.lr": 3e-3, "optim.weight_decay": 0.1}),
           tiny_config(2, **{"model.dropout": 0.3, "loss.residual_l2": 1e-2,
                             "optim.lr": 2e-3})]


def history(result, key="val_mse"):
  return np.array([r[key] for r in result.history])


def assert_same_run(got, want):
  assert got.epochs_run == want.epochs_run and got.stop_reason == want.stop_reason
  assert got.best_epoch == want.best_epoch and got.best_step == want.best_step
  for key in ("val_mse", "train_mse", "train_loss", "grad_norm", "lr"):
    np.testing.assert_allclose(history(got, key), history(want, key), atol=ATOL)
  np.testing.assert_allclose(got.initial_val_loss, want.initial_val_loss, atol=ATOL)
  chex.assert_trees_all_close(got.params, want.params, atol=ATOL)
  chex.assert_trees_all_close(got.final_params, want.final_params, atol=ATOL)


@pytest.fixture(scope="module")
def data():
  return make_data()


@pytest.fixture(scope="module")
def separate(data, tmp_path_factory):
  return [train(c, data, tmp_path_factory.mktemp(f"single{i}"), progress=False)
          for i, c in enumerate(CONFIGS)]


@pytest.fixture(scope="module")
def swept(data, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("sweep")
  return workdir, train_sweep(CONFIGS, data, workdir, progress=False,
                              save_final_state=True)


def test_vmapped_equals_separate_runs(swept, separate):
  _, results = swept
  for got, want in zip(results, separate):
    assert_same_run(got, want)
    assert got.stop_reason == "epochs" and got.epochs_run == EPOCHS
  assert history(results[0])[-1] < results[0].initial_val_loss  # it learns


def test_one_compiled_epoch_program(swept, data):
  config = resolve_config(CONFIGS[0], data)
  progs, _ = sweep_programs(config, swept[1][0].metadata["data"]["num_train"])
  assert progs.epoch._cache_size() == 1 and progs.eval._cache_size() == 1


def test_member_checkpoints_match_train(swept, separate, data):
  workdir, results = swept
  for i, (got, want) in enumerate(zip(results, separate)):
    member_dir = workdir / f"member_{i:03d}"
    params, meta = ckpt.restore_for_inference(member_dir)
    chex.assert_trees_all_close(params, got.params, atol=0)
    assert meta == got.metadata
    skip = {"progress", "val_loss", "best_val_loss"}  # floats, compared above
    assert ({k: v for k, v in meta.items() if k not in skip}
            == {k: v for k, v in want.metadata.items() if k not in skip})
    assert meta["progress"]["best_epoch"] == want.metadata["progress"]["best_epoch"]
  # The single-run trainer finds a finished run (best + final state) in a
  # member's workdir and restores it instead of training.
  again = train(CONFIGS[1], data, workdir / "member_001", progress=False)
  assert again.resumed_from_step is not None and again.history == results[1].history
  chex.assert_trees_all_close(again.params, results[1].params, atol=0)
  chex.assert_trees_all_close(again.final_params, results[1].final_params, atol=0)
  summary = json.loads((workdir / "sweep.json").read_text())
  assert [m["dir"] for m in summary["members"]] == ["member_000", "member_001",
                                                    "member_002"]
  with pytest.raises(ValueError, match="already holds checkpoints"):
    train_sweep(CONFIGS, data, workdir, progress=False)


def test_per_member_early_stopping(data, tmp_path):
  """Member 1 learns noise and stops early (patience 1); member 2 diverges
  (lr 1e30) and stops as non-finite; member 0 trains on. Same shapes as the
  3-member sweep above, so no new compilation."""
  rng = np.random.default_rng(7)
  noise = dataclasses.replace(
      data, target_N=rng.normal(size=data.target_N.shape).astype(np.float32), lam=0.5)
  configs = [CONFIGS[0], tiny_config(1), tiny_config(2, **{"optim.lr": 1e30})]
  results = train_sweep(configs, [data, noise, data], tmp_path / "sweep",
                        progress=False)
  full, stopped, diverged = results
  assert full.stop_reason == "epochs" and full.epochs_run == EPOCHS
  assert stopped.stop_reason == "patience" and stopped.epochs_run < EPOCHS
  assert diverged.stop_reason == "nonfinite"
  # The stopped member's parameters froze at its last epoch: they equal those of
  # a separate run that stopped there, though the sweep ran more epochs.
  alone = train(configs[1], noise, tmp_path / "alone", progress=False)
  assert_same_run(stopped, alone)
  assert stopped.metadata["lambda"] == 0.5
  assert not np.allclose(np.asarray(jax.tree.leaves(stopped.final_params)[0]),
                         np.asarray(jax.tree.leaves(stopped.params)[0]))
  # The diverged member keeps its initial parameters as its best checkpoint.
  params, meta = ckpt.restore_for_inference(tmp_path / "sweep" / "member_002")
  assert meta["progress"]["epoch"] == 0
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))


def test_sharded_equals_unsharded(swept, data, tmp_path):
  """4 members over the 4 CPU devices: each equals its unsharded run."""
  assert jax.device_count() == 4
  mesh = sweep_layout.member_mesh()
  extra = tiny_config(3)
  sharded = train_sweep([*CONFIGS, extra], data, tmp_path / "sharded", mesh=mesh,
                        progress=False)
  summary = json.loads((tmp_path / "sharded" / "sweep.json").read_text())
  assert summary["sharded"] and summary["devices"] == 4
  for got, want in zip(sharded, swept[1]):
    assert_same_run(got, want)
  assert_same_run(sharded[3], train(extra, data, tmp_path / "one", progress=False))


def test_placement_replicates_when_members_do_not_divide():
  mesh = sweep_layout.member_mesh()
  sharded, replicated = sweep_layout.Placement(mesh, 8), sweep_layout.Placement(mesh, 3)
  assert sharded.sharded and not replicated.sharded
  x = sharded.member(np.zeros((8, 2), np.float32))
  assert x.sharding.spec == jax.sharding.PartitionSpec("member")
  assert [s.data.shape for s in x.addressable_shards] == [(2, 2)] * 4
  y = replicated.member(np.zeros((3, 2), np.float32))
  assert y.sharding.is_fully_replicated
  with pytest.raises(ValueError, match="1-D with axis 'member'"):
    sweep_layout.Placement(jax.make_mesh((4,), ("data",)), 4)


def test_mismatched_shapes_raise(data, tmp_path):
  for field, value in (("optim.batch_size", 64), ("optim.epochs", 3),
                       ("model.q_widths", (16, 8)), ("val_fraction", 0.2)):
    with pytest.raises(ValueError, match=f"differ in {field}"):
      train_sweep([CONFIGS[0], tiny_config(1, **{field: value})], data,
                  tmp_path / field, progress=False)
  with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
    train_sweep([tiny_config(0, **{"model.dropout": 1.0})], data, tmp_path / "d",
                progress=False)
  with pytest.raises(ValueError, match="data\\[1\\].z_hist_NxD differs"):
    train_sweep(CONFIGS[:2], [data, make_data(seed=1)], tmp_path / "z",
                progress=False)
  # Episodes of different lengths: two seeds give validation sets of other sizes.
  ragged = make_data(steps_per_episode=np.arange(EPISODES) % 7 + 3)
  with pytest.raises(ValueError, match="split sizes differ"):
    train_sweep(CONFIGS[:2], ragged, tmp_path / "split", progress=False)


def test_distributed_initialize_only_when_launched():
  calls = []
  init = lambda **kw: calls.append(kw)  # noqa: E731
  assert not sweep_layout.initialize_distributed_if_launched({}, init)
  assert not sweep_layout.initialize_distributed_if_launched({"SLURM_NTASKS": "1"},
                                                             init)
  assert calls == []
  assert sweep_layout.initialize_distributed_if_launched(
      {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234", "JAX_NUM_PROCESSES": "2",
       "JAX_PROCESS_ID": "1"}, init)
  assert sweep_layout.initialize_distributed_if_launched({"SLURM_NTASKS": "4"}, init)
  assert calls == [{"coordinator_address": "10.0.0.1:1234", "num_processes": 2,
                    "process_id": 1}, {}]
