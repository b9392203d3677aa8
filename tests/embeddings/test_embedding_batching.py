"""Fixed-shape batches for the jitted encoder."""

import numpy as np
import pytest

from mtr_jax.embeddings.batching import bucket_length, length_buckets, padded_batches


def test_length_buckets_capped_at_max_seq_len():
  assert length_buckets(256) == (32, 64, 128, 256)
  assert length_buckets(512) == (32, 64, 128, 256, 512)
  assert length_buckets(100, (32, 64, 128)) == (32, 64, 100)


def test_bucket_length():
  assert [bucket_length(n, (32, 64)) for n in (1, 32, 33, 64)] == [32, 32, 64, 64]
  with pytest.raises(ValueError, match="exceed"):
    bucket_length(65, (32, 64))


def test_padded_batches_cover_every_nonempty_row_once():
  rng = np.random.default_rng(0)
  ids = [list(rng.integers(1, 100, n)) for n in rng.integers(0, 60, 23)]
  ids[3] = []
  batches = list(padded_batches(ids, batch_size=4, buckets=(8, 32, 64), pad_id=0))
  seen = []
  for b in batches:
    real = int((b.rows >= 0).sum())
    assert b.ids_BxL.shape == b.mask_BxL.shape == (1 if real == 1 else 4, b.ids_BxL.shape[1])
    assert b.ids_BxL.shape[1] in (8, 32, 64)
    for r, i in enumerate(b.rows):
      if i < 0:
        assert not b.mask_BxL[r].any() and not b.ids_BxL[r].any()
        continue
      n = len(ids[i])
      assert b.mask_BxL[r].sum() == n and b.mask_BxL[r, :n].all()
      assert list(b.ids_BxL[r, :n]) == ids[i] and not b.ids_BxL[r, n:].any()
      seen.append(int(i))
  assert sorted(seen) == [i for i, x in enumerate(ids) if x]


def test_padded_batches_sort_longest_first():
  ids = [[1] * n for n in (3, 40, 10, 50)]
  batches = list(padded_batches(ids, batch_size=2, buckets=(16, 64)))
  assert [list(b.rows) for b in batches] == [[3, 1], [2, 0]]
  assert [b.ids_BxL.shape[1] for b in batches] == [64, 16]
