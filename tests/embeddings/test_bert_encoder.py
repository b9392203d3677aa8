"""The Flax BERT encoder on a tiny random BERT folder: loading, numerics, shapes, traces."""

import functools
import json

import chex
import jax
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from mtr_jax.embeddings import bert
from mtr_jax.embeddings.encoder import BertEncoder, file_sha256, make_encoder
from tiny_bert_folder import make_tiny_bert, reference_embedding

TEXTS = ["the door is open", "look around the kitchen", "boil water",
         "focus on the door " * 5,                 # 27 content tokens: bucket 32
         "no known action matches that input " * 6,   # > 32: bucket 64
         "turn " * 100,                            # > 62: cut to 64 with [CLS] [SEP]
         "x"]


@pytest.fixture(name="folder", scope="module")
def _folder(tmp_path_factory):
  return make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(name="encoder", scope="module")
def _encoder(folder):
  return BertEncoder(folder, batch_size=4)


def test_matches_numpy_reference(folder, encoder):
  got = encoder.encode(TEXTS)
  chex.assert_shape(got, (len(TEXTS), 16))
  assert got.dtype == np.float32
  for text, ids, vec in zip(TEXTS, encoder.tokens.input_ids(TEXTS), got):
    np.testing.assert_allclose(vec, reference_embedding(folder, ids), atol=1e-5, err_msg=text)


def test_long_text_is_cut_to_max_seq_len(encoder):
  assert encoder.max_seq_len == 64 and encoder.max_tokens == 62
  assert encoder.buckets == (32, 64)
  same = encoder.encode(["turn " * 62, "turn " * 100])
  np.testing.assert_allclose(same[0], same[1], atol=1e-6)


def test_jit_matches_eager(folder):
  _, graphdef, state = bert.load_bert(folder)
  ids_BxL = np.array([[2, 50, 51, 3, 0, 0], [2, 60, 3, 0, 0, 0]], np.int32)
  mask_BxL = (ids_BxL > 0).astype(np.int32)
  eager = bert.embed(graphdef, state, ids_BxL, mask_BxL)
  jitted = jax.jit(functools.partial(bert.embed, graphdef))(state, ids_BxL, mask_BxL)
  chex.assert_trees_all_close(eager, jitted, atol=1e-5)


def test_empty_texts_embed_to_zeros_others_to_unit_vectors(encoder):
  got = encoder.encode(["", "the door", "   \n", "open"])
  np.testing.assert_array_equal(got[[0, 2]], 0.0)
  np.testing.assert_allclose(np.linalg.norm(got[[1, 3]], axis=1), 1.0, atol=1e-6)
  assert encoder.encode([]).shape == (0, 16)


def test_order_is_kept(encoder):
  got = encoder.encode(TEXTS)
  perm = np.random.default_rng(0).permutation(len(TEXTS))
  np.testing.assert_allclose(encoder.encode([TEXTS[i] for i in perm]), got[perm], atol=1e-6)


@pytest.mark.parametrize("batch_size,buckets", [(1, (32, 64)), (3, (64,)), (16, (8, 16, 64))])
def test_batch_size_and_buckets_do_not_change_vectors(folder, encoder, batch_size, buckets):
  other = BertEncoder(folder, batch_size=batch_size, buckets=buckets)
  np.testing.assert_allclose(other.encode(TEXTS), encoder.encode(TEXTS), atol=1e-5)


def test_one_trace_per_bucket(folder):
  enc = BertEncoder(folder, batch_size=4)   # row buckets (1, 4)
  enc.encode(["the door is open", "boil water"])                       # (4, 32)
  assert enc.num_traces == 1
  enc.encode(["look around", "open " * 20, "x", "the", "door", "is"])   # (4, 32) twice
  assert enc.num_traces == 1
  enc.encode(["open " * 40])                                           # (1, 64)
  assert enc.num_traces == 2
  enc.encode(["open " * 41])                                           # (1, 64) again
  assert enc.num_traces == 2
  enc.encode(["open " * 50, "the door is open"])                       # (4, 64)
  assert enc.num_traces == 3


def test_fingerprint(folder, encoder):
  fp = encoder.fingerprint
  assert fp == {"name": folder.name, "weights_sha256": file_sha256(folder / "model.safetensors"),
                "max_tokens": 62, "pooling": "mean+l2", "dim": 16}
  assert len(fp["weights_sha256"]) == 64
  json.dumps(fp)


def test_registry_builds_encoders(folder):
  enc = make_encoder("bert", folder=folder, name="tiny")
  assert enc.name == "tiny" and enc.dim == 16
  with pytest.raises(KeyError, match="all-MiniLM-L6-v2"):
    make_encoder("no-such-encoder")


def test_prefixed_checkpoint_loads_the_same(folder, tmp_path, encoder):
  other = make_tiny_bert(tmp_path / "prefixed")
  weights = load_file(str(folder / "model.safetensors"))
  save_file({f"bert.{k}": v for k, v in weights.items()} | {"cls.bias": np.zeros(3, np.float32)},
            str(other / "model.safetensors"))
  np.testing.assert_allclose(BertEncoder(other, batch_size=4).encode(TEXTS),
                             encoder.encode(TEXTS), atol=1e-6)


def test_config_and_weights_must_agree(tmp_path):
  folder = make_tiny_bert(tmp_path / "bad")
  cfg = json.loads((folder / "config.json").read_text())
  (folder / "config.json").write_text(json.dumps(cfg | {"intermediate_size": 64}))
  with pytest.raises(ValueError, match="shapes"):
    bert.load_bert(folder)
  (folder / "config.json").write_text(json.dumps(cfg | {"hidden_act": "relu"}))
  with pytest.raises(ValueError, match="hidden_act"):
    bert.load_bert(folder)


def test_max_seq_len_beyond_positions_is_refused(folder):
  with pytest.raises(ValueError, match="max_position_embeddings"):
    BertEncoder(folder, max_seq_len=65)
