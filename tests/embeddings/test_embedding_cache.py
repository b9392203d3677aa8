"""The on-disk embedding cache: encode once, persist, never mix encoders."""

import hashlib

import numpy as np
import pytest

from mtr_jax.embeddings.cache import FINGERPRINT_FILE, EmbeddingCache, FingerprintMismatch, text_key
from mtr_jax.embeddings.encoder import BertEncoder, TextEncoder
from tiny_bert_folder import make_tiny_bert


class FakeEncoder(TextEncoder):
  """Deterministic vectors from the text's hash; records what it was asked to encode."""

  dim = 8
  max_tokens = 100

  def __init__(self, sha="0" * 64):
    self.name = "fake"
    self.sha = sha
    self.calls = []

  @property
  def fingerprint(self):
    return {"name": self.name, "weights_sha256": self.sha, "max_tokens": self.max_tokens,
            "pooling": "mean+l2", "dim": self.dim}

  def count_tokens(self, text):
    return len(text.split())

  def truncate_tokens(self, text, n, keep="end"):
    raise NotImplementedError

  def encode(self, texts, *, progress=False):
    self.calls.append(list(texts))
    seeds = [int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "little") for t in texts]
    return np.stack([np.random.default_rng(s).normal(size=self.dim) for s in seeds]
                    ).astype(np.float32).reshape(len(texts), self.dim)


def test_encodes_only_missing_texts(tmp_path):
  enc = FakeEncoder()
  cache = EmbeddingCache(tmp_path / "c", enc)
  first = cache.get_or_encode(["a", "b", "a"])
  assert enc.calls == [["a", "b"]]
  np.testing.assert_array_equal(first[0], first[2])
  np.testing.assert_array_equal(first, enc.encode(["a", "b", "a"]))
  enc.calls.clear()
  second = cache.get_or_encode(["b", "c", "a"])
  assert enc.calls == [["c"]]
  np.testing.assert_array_equal(second[[0, 2]], first[[1, 0]])
  assert second.dtype == np.float32 and second.shape == (3, 8)
  enc.calls.clear()
  cache.get_or_encode(["a", "b", "c"])
  assert enc.calls == []
  assert len(cache) == 3 and "c" in cache and "d" not in cache


def test_reopened_cache_encodes_nothing_new(tmp_path):
  enc = FakeEncoder()
  want = EmbeddingCache(tmp_path, enc).get_or_encode(["x", "y", ""])
  enc.calls.clear()
  reopened = EmbeddingCache(tmp_path, enc)
  np.testing.assert_array_equal(reopened.get_or_encode(["x", "y", ""]), want)
  assert enc.calls == []


def test_shards_written_by_another_instance_are_seen(tmp_path):
  enc_a, enc_b = FakeEncoder(), FakeEncoder()
  a, b = EmbeddingCache(tmp_path, enc_a), EmbeddingCache(tmp_path, enc_b)
  a.get_or_encode(["shared"])
  b.get_or_encode(["shared", "own"])
  assert enc_b.calls == [["own"]]


def test_layout_is_fingerprint_plus_atomic_shards(tmp_path):
  cache = EmbeddingCache(tmp_path, FakeEncoder())
  cache.get_or_encode(["one"])
  cache.get_or_encode(["two", "three"])
  cache.get_or_encode(["one"])                       # nothing new: no shard
  names = sorted(p.name for p in tmp_path.iterdir())
  assert names[0] == FINGERPRINT_FILE and len(names) == 3
  assert all(n.startswith("shard-") and n.endswith(".npz") for n in names[1:])
  with np.load(tmp_path / names[1]) as shard:
    assert shard["vectors"].shape[1] == 8
    assert set(shard["keys"]) <= {text_key(t) for t in ("one", "two", "three")}


def test_other_fingerprint_is_refused_naming_both(tmp_path):
  EmbeddingCache(tmp_path, FakeEncoder(sha="a" * 64)).get_or_encode(["t"])
  with pytest.raises(FingerprintMismatch) as err:
    EmbeddingCache(tmp_path, FakeEncoder(sha="b" * 64))
  assert "a" * 64 in str(err.value) and "b" * 64 in str(err.value)


def test_empty_request(tmp_path):
  enc = FakeEncoder()
  assert EmbeddingCache(tmp_path, enc).get_or_encode([]).shape == (0, 8)
  assert enc.calls == []


def test_key_is_sha256_of_text():
  assert text_key("abc") == hashlib.sha256(b"abc").hexdigest()


def test_with_a_real_encoder(tmp_path):
  enc = BertEncoder(make_tiny_bert(tmp_path / "bert"), batch_size=4)
  texts = ["the door is open", "", "boil water"]
  got = EmbeddingCache(tmp_path / "cache", enc).get_or_encode(texts, progress=False)
  np.testing.assert_allclose(got, enc.encode(texts), atol=1e-6)
  assert enc.num_traces == 1


def test_chunks_are_written_as_they_finish(tmp_path):
  """A run killed in the middle keeps every finished chunk."""
  class Dies(FakeEncoder):
    def encode(self, texts, *, progress=False):
      if len(self.calls) == 2:
        raise KeyboardInterrupt
      return super().encode(texts, progress=progress)

  texts = [f"t{i}" for i in range(10)]
  with pytest.raises(KeyboardInterrupt):
    EmbeddingCache(tmp_path / "c", Dies()).get_or_encode(texts, shard_size=4, progress=False)
  enc = FakeEncoder()
  cache = EmbeddingCache(tmp_path / "c", enc)
  out = cache.get_or_encode(texts, shard_size=4, progress=False)
  assert enc.calls == [texts[8:]]  # the first two chunks of 4 were kept
  np.testing.assert_array_equal(out, FakeEncoder().encode(texts))
