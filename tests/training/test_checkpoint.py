"""Checkpoints: round trips, best/latest retention, and every error case."""

import glob
import json
import os
import shutil

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import mtr_jax
from mtr_jax.estimator import (Estimator, EstimatorConfig, FeatureStats, model_features,
                               model_ids, score)
from mtr_jax.pool.pool import ModelSpec
from mtr_jax.training import checkpoint as ckpt

CONFIG = EstimatorConfig(hist_dim=16, num_known_models=3, meta_widths=(8, 8),
                         residual_dim=4, model_dim=16, q_widths=(32, 32))
POOL = [ModelSpec(f"m{i}", input_price=0.2 * (i + 1), output_price=1.0 * (i + 1))
        for i in range(3)]
# A failed restore leaves TensorStore read futures that report into Orbax's closed
# event loop; Python prints them as unraisable exceptions. They are not our errors.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

FINGERPRINT = {"name": "fake-encoder", "weights_sha256": "ab" * 32, "max_tokens": 256,
               "pooling": "mean", "dim": 16}


def _state(seed=0):
  graphdef, params = nnx.split(Estimator(CONFIG, rngs=nnx.Rngs(seed)))
  tx = optax.adamw(1e-3)
  opt_state = tx.init(params)
  # One update so that the optimiser state is not all zeros.
  grads = jax.tree.map(jnp.ones_like, params)
  updates, opt_state = tx.update(grads, opt_state, params)
  return graphdef, optax.apply_updates(params, updates), opt_state


def _metadata():
  return {"config": {"seed": 0, "model": CONFIG.to_dict()},
          "pool": [m.metadata() for m in POOL],
          "feature_stats": FeatureStats.fit(POOL).to_dict(),
          "encoder_fingerprint": FINGERPRINT, "lambda": 1.0,
          "known_models": [m.name for m in POOL],
          "progress": {"epoch": 3, "patience_count": 1, "rng_key_data": [0, 7]}}


def _scaled(params, factor):
  return jax.tree.map(lambda x: x * factor, params)


@pytest.fixture
def saved(tmp_path):
  graphdef, params, opt_state = _state()
  directory = tmp_path / "checkpoints"
  ckpt.save(directory, 10, params, opt_state, _metadata(), val_loss=0.5)
  return directory, graphdef, params, opt_state


def test_restore_for_inference_round_trip(saved):
  directory, graphdef, params, _ = saved
  restored, meta = ckpt.restore_for_inference(directory)
  chex.assert_trees_all_equal(restored, params)
  assert jax.tree.structure(restored) == jax.tree.structure(params)
  expected = {**_metadata(), "step": 10, "package_version": mtr_jax.__version__}
  assert meta == json.loads(json.dumps(expected))  # tuples come back as lists
  assert all(x.devices() == {jax.devices("cpu")[0]} for x in jax.tree.leaves(restored))
  # The saved metadata alone is enough to score: graphdef, features, residual rows.
  graphdef2, params2, meta2 = ckpt.load_estimator(directory)
  stats = FeatureStats.from_dict(meta2["feature_stats"])
  feats_Kx8 = model_features(meta2["pool"], stats)
  ids_K = model_ids([m["name"] for m in meta2["pool"]], meta2["known_models"])
  z_BxD = jax.random.normal(jax.random.key(1), (5, CONFIG.hist_dim))
  chex.assert_trees_all_equal(score(graphdef2, params2, z_BxD, feats_Kx8, ids_K),
                              score(graphdef, params, z_BxD, feats_Kx8, ids_K))


def test_restore_for_training_round_trip(saved):
  directory, _, params, opt_state = saved
  fresh_graphdef, fresh_params, fresh_opt = _state(seed=3)
  for templates in ((fresh_params, fresh_opt),
                    jax.eval_shape(lambda: (fresh_params, fresh_opt))):
    p, o, meta = ckpt.restore_for_training(directory, *templates,
                                           expected_fingerprint=FINGERPRINT)
    chex.assert_trees_all_equal(p, params)
    chex.assert_trees_all_equal(o, opt_state)
    assert jax.tree.structure(o) == jax.tree.structure(opt_state)
    assert meta["progress"] == _metadata()["progress"] and meta["step"] == 10


def test_restore_accepts_workdir_and_step_dir(saved):
  directory, _, params, _ = saved
  for path in (directory.parent, directory / "10"):
    restored, meta = ckpt.restore_for_inference(path)
    chex.assert_trees_all_equal(restored, params)
    assert meta["step"] == 10
  assert ckpt.read_metadata(directory)["lambda"] == 1.0


def test_keeps_best_and_latest(tmp_path):
  _, params, opt_state = _state()
  directory = tmp_path / "ck"
  for step, val in ((1, 3.0), (2, 1.0), (3, 2.0), (4, 4.0)):
    ckpt.save(directory, step, _scaled(params, step), opt_state, _metadata(),
              val_loss=val)
  assert ckpt.all_steps(directory) == [2, 4]
  assert (ckpt.best_step(directory), ckpt.latest_step(directory)) == (2, 4)
  best, meta = ckpt.restore_for_inference(directory)
  chex.assert_trees_all_equal(best, _scaled(params, 2))
  assert meta["step"] == 2
  latest, meta = ckpt.restore_for_inference(directory, which="latest")
  chex.assert_trees_all_equal(latest, _scaled(params, 4))
  # A tie does not displace the earlier best.
  ckpt.save(directory, 5, _scaled(params, 5), opt_state, _metadata(), val_loss=1.0)
  assert ckpt.all_steps(directory) == [2, 5] and ckpt.best_step(directory) == 2
  # The training restore takes the latest.
  p, _, meta = ckpt.restore_for_training(directory, params, opt_state)
  chex.assert_trees_all_equal(p, _scaled(params, 5))


def test_without_val_loss_best_is_latest(tmp_path):
  _, params, opt_state = _state()
  for step in (1, 2):
    ckpt.save(tmp_path, step, _scaled(params, step), opt_state, _metadata())
  assert ckpt.all_steps(tmp_path) == [2] and ckpt.best_step(tmp_path) == 2


def test_params_only_checkpoint(tmp_path):
  _, params, opt_state = _state()
  ckpt.save(tmp_path, 1, params, None, _metadata(), val_loss=1.0)
  restored, _ = ckpt.restore_for_inference(tmp_path)
  chex.assert_trees_all_equal(restored, params)
  with pytest.raises(ckpt.CheckpointError, match="partial checkpoint.*opt_state"):
    ckpt.restore_for_training(tmp_path, params, opt_state)


def test_latest_step_of_missing_directory_is_none(tmp_path):
  assert ckpt.latest_step(tmp_path / "nope") is None
  assert ckpt.best_step(tmp_path / "nope") is None


# ---------------------------------------------------------------------------
# Errors.


def _restore_all(directory, params, opt_state, **kw):
  """Both restore paths must fail the same way."""
  errors = []
  for fn in (lambda: ckpt.restore_for_inference(directory, **kw),
             lambda: ckpt.restore_for_training(directory, params, opt_state, **kw)):
    with pytest.raises(ckpt.CheckpointError) as info:
      fn()
    errors.append(str(info.value))
  return errors


def test_missing_directory(tmp_path):
  _, params, opt_state = _state()
  for msg in _restore_all(tmp_path / "missing", params, opt_state):
    assert "no checkpoint directory" in msg and "missing" in msg
  with pytest.raises(ckpt.CheckpointError, match="no checkpoint directory"):
    ckpt.read_metadata(tmp_path / "missing")


def test_empty_directory(tmp_path):
  _, params, opt_state = _state()
  (tmp_path / "empty").mkdir()
  for msg in _restore_all(tmp_path / "empty", params, opt_state):
    assert "no finished checkpoint" in msg


def test_only_an_unfinished_tmp_save(saved):
  directory, _, params, opt_state = saved
  tmp = directory / "10.orbax-checkpoint-tmp-1234"
  os.rename(directory / "10", tmp)
  for msg in _restore_all(directory, params, opt_state):
    assert "no finished checkpoint" in msg and "unfinished" in msg and tmp.name in msg
  with pytest.raises(ckpt.CheckpointError, match="unfinished checkpoint"):
    ckpt.restore_for_inference(tmp)


def test_tmp_dir_beside_a_finished_step_is_ignored(saved):
  directory, _, params, opt_state = saved
  shutil.copytree(directory / "10", directory / "20.orbax-checkpoint-tmp-99")
  shutil.rmtree(directory / "20.orbax-checkpoint-tmp-99" / "params")
  assert ckpt.latest_step(directory) == 10
  p, _, meta = ckpt.restore_for_training(directory, params, opt_state)
  assert meta["step"] == 10


@pytest.mark.parametrize("item", ["params", "metadata"])
def test_partial_step(saved, item):
  directory, _, params, opt_state = saved
  shutil.rmtree(directory / "10" / item)
  for msg in _restore_all(directory, params, opt_state):
    assert "partial checkpoint" in msg and f"'{item}'" in msg


@pytest.mark.parametrize("pattern", ["metadata/metadata", "params/manifest.ocdbt",
                                     "params/d/*", "opt_state/d/*"])
def test_corrupt_files(saved, pattern):
  directory, _, params, opt_state = saved
  files = glob.glob(str(directory / "10" / pattern))
  assert files, f"no file matches {pattern}"
  for name in files:
    with open(name, "wb") as f:
      f.write(b"\x00garbage\xff" * 7)
  if pattern.startswith("opt_state"):  # inference does not read the optimiser state
    ckpt.restore_for_inference(directory)
    with pytest.raises(ckpt.CheckpointError, match="could not read"):
      ckpt.restore_for_training(directory, params, opt_state)
    return
  for msg in _restore_all(directory, params, opt_state):
    assert "could not read" in msg and str(directory / "10") in msg


def test_fingerprint_mismatch_shows_both(saved):
  directory, _, params, opt_state = saved
  other = {**FINGERPRINT, "name": "other-encoder", "dim": 32}
  for msg in _restore_all(directory, params, opt_state, expected_fingerprint=other):
    assert "fake-encoder" in msg and "other-encoder" in msg
  # The matching fingerprint passes (tuples/lists compare as JSON).
  ckpt.restore_for_inference(directory, expected_fingerprint=dict(FINGERPRINT))


def test_unknown_step(saved):
  directory, _, params, opt_state = saved
  with pytest.raises(ckpt.CheckpointError, match="no finished step 7"):
    ckpt.restore_for_training(directory, params, opt_state, step=7)


def test_metadata_must_be_json(tmp_path):
  _, params, opt_state = _state()
  with pytest.raises(ckpt.CheckpointError, match="not plain JSON"):
    ckpt.save(tmp_path, 1, params, opt_state, {"x": np.zeros(3)})
  with pytest.raises(ckpt.CheckpointError, match="not plain JSON"):
    ckpt.save(tmp_path, 1, params, opt_state, {"x": float("nan")})
  with pytest.raises(ckpt.CheckpointError, match="finite"):
    ckpt.save(tmp_path, 1, params, opt_state, {}, val_loss=float("inf"))


def test_save_many_equals_one_save_each(tmp_path):
  _, params, _ = _state()
  members = [_scaled(params, float(i + 1)) for i in range(3)]
  requests = [(tmp_path / f"m{i}", 5, members[i], None, {**_metadata(), "member": i},
               0.1 * (i + 1)) for i in range(3)]
  requests.append((tmp_path / "m0", 7, _scaled(params, 9.0), None, _metadata(), 0.5))
  paths = ckpt.save_many(requests)
  assert paths == [(tmp_path / f"m{i}" / "5").absolute() for i in range(3)] + [
      (tmp_path / "m0" / "7").absolute()]
  for i in range(3):
    restored, meta = ckpt.restore_for_inference(tmp_path / f"m{i}")
    chex.assert_trees_all_close(restored, members[i])
    assert meta["member"] == i
  assert ckpt.all_steps(tmp_path / "m0") == [5, 7]
  assert ckpt.best_step(tmp_path / "m0") == 5
  with pytest.raises(ckpt.CheckpointError, match="val_loss must be finite"):
    ckpt.save_many([(tmp_path / "bad", 1, params, None, _metadata(), float("nan"))])
