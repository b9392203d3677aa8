"""Fixed-shape batches from ragged token ids, so a jitted encoder compiles once per bucket.

Every batch has a row count from a short list (1, 8 or `batch_size`; short batches
are filled with fully masked rows) and a length from a short list of buckets, so
encoding new texts never meets a new shape: at most 3 x `len(buckets)`
compilations per process. The 1-row shape keeps a router's per-turn call cheap.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np

DEFAULT_BUCKETS = (32, 64, 128, 256, 512)


def length_buckets(max_seq_len: int, buckets: Sequence[int] = DEFAULT_BUCKETS) -> tuple[int, ...]:
  """The buckets below `max_seq_len`, then `max_seq_len` itself."""
  return tuple(sorted({b for b in buckets if b < max_seq_len} | {max_seq_len}))


def bucket_length(n: int, buckets: Sequence[int]) -> int:
  """The smallest bucket that holds `n` tokens."""
  for b in buckets:
    if n <= b:
      return b
  raise ValueError(f"{n} tokens exceed the largest bucket {buckets[-1]}")


def row_buckets(batch_size: int) -> tuple[int, ...]:
  """Row counts a batch may have: 1, 8 (when below batch_size) and batch_size."""
  return tuple(sorted({b for b in (1, 8) if b < batch_size} | {batch_size}))


@dataclasses.dataclass(frozen=True)
class Batch:
  """One padded batch: `rows[i]` is the input index of row i (-1 for filler rows)."""

  rows: np.ndarray       # int64 [B]
  ids_BxL: np.ndarray    # int32 [B, L]
  mask_BxL: np.ndarray   # int32 [B, L], 1 on real tokens


def padded_batches(ids: Sequence[Sequence[int]], batch_size: int, buckets: Sequence[int],
                   pad_id: int = 0) -> Iterator[Batch]:
  """Batches of the non-empty id lists, longest first, padded to fixed shapes.

  Sorting by length keeps texts of similar length together, so little compute
  goes to padding. Empty id lists are skipped (they embed to zeros).
  """
  order = sorted((i for i, seq in enumerate(ids) if seq), key=lambda i: -len(ids[i]))
  for start in range(0, len(order), batch_size):
    rows = order[start:start + batch_size]
    rows_bucket = next(b for b in row_buckets(batch_size) if b >= len(rows))
    length = bucket_length(len(ids[rows[0]]), buckets)
    ids_BxL = np.full((rows_bucket, length), pad_id, np.int32)
    mask_BxL = np.zeros((rows_bucket, length), np.int32)
    for r, i in enumerate(rows):
      ids_BxL[r, :len(ids[i])] = ids[i]
      mask_BxL[r, :len(ids[i])] = 1
    rows_B = np.full(rows_bucket, -1, np.int64)
    rows_B[:len(rows)] = rows
    yield Batch(rows_B, ids_BxL, mask_BxL)
