"""An on-disk embedding cache for one encoder: encode each distinct text once.

Layout of a cache directory (one encoder fingerprint per directory):

    fingerprint.json            the encoder's fingerprint, written on creation
    shard-<ns>-<pid>-<rand>.npz one per call that encoded something new:
                                keys [n] (hex sha256 of the text), vectors [n, dim]

Shards are append-only and written atomically (temporary file + rename), so
several processes may fill one cache and a crash never leaves a partial shard.
Opening a directory written by another encoder raises `FingerprintMismatch`:
vectors of two encoders are never mixed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mtr_jax.embeddings.encoder import TextEncoder

FINGERPRINT_FILE = "fingerprint.json"


class FingerprintMismatch(ValueError):
  """The cache directory belongs to another encoder."""


def text_key(text: str) -> str:
  """Cache key of a text: hex sha256 of its UTF-8 bytes."""
  return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _atomic_write(path: Path, write) -> None:
  tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
  try:
    with open(tmp, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  finally:
    tmp.unlink(missing_ok=True)


class EmbeddingCache:
  """Embeddings of texts by `encoder`, kept in `directory`.

  Args:
    directory: created if missing; must hold this encoder's fingerprint if not.
    encoder: computes what is missing.
  """

  def __init__(self, directory: str | Path, encoder: TextEncoder):
    self.directory = Path(directory)
    self.encoder = encoder
    self._vectors: dict[str, np.ndarray] = {}
    self._loaded: set[str] = set()
    self.directory.mkdir(parents=True, exist_ok=True)
    fingerprint = json.loads(json.dumps(encoder.fingerprint))   # as stored
    path = self.directory / FINGERPRINT_FILE
    if not path.exists():
      text = json.dumps(fingerprint, indent=2, sort_keys=True) + "\n"
      _atomic_write(path, lambda f: f.write(text.encode()))
    stored = json.loads(path.read_text())
    if stored != fingerprint:
      raise FingerprintMismatch(
          f"embedding cache {self.directory} holds vectors of encoder {stored}, "
          f"not of this encoder {fingerprint}; use another cache directory")
    self.refresh()

  def __len__(self) -> int:
    return len(self._vectors)

  def __contains__(self, text: str) -> bool:
    return text_key(text) in self._vectors

  def refresh(self) -> None:
    """Reads shards written since the last look (by this or another process)."""
    for shard in sorted(self.directory.glob("shard-*.npz")):
      if shard.name in self._loaded:
        continue
      with np.load(shard, allow_pickle=False) as data:
        self._vectors.update(zip(data["keys"].tolist(), data["vectors"]))
      self._loaded.add(shard.name)

  def get_or_encode(self, texts: Sequence[str], *, progress: bool = True,
                    shard_size: int = 4096) -> np.ndarray:
    """float32 [N, dim] vectors of `texts`; only texts never seen are encoded, in
    chunks of `shard_size` texts, each written as a shard as soon as it is done (a
    killed run keeps every finished chunk)."""
    self.refresh()
    keys = [text_key(t) for t in texts]
    missing = list({k: t for k, t in zip(keys, texts) if k not in self._vectors}.items())
    chunks = [missing[i:i + shard_size] for i in range(0, len(missing), shard_size)]
    for i, chunk in enumerate(chunks):
      if progress and len(chunks) > 1:
        print(f"embedding cache: chunk {i + 1}/{len(chunks)} ({len(chunk)} of "
              f"{len(missing)} new texts)", flush=True)
      vectors = self.encoder.encode([t for _, t in chunk], progress=progress)
      self._write_shard([k for k, _ in chunk], vectors)
    if not keys:
      return np.zeros((0, self.encoder.dim), np.float32)
    return np.stack([self._vectors[k] for k in keys]).astype(np.float32, copy=False)

  def _write_shard(self, keys: list[str], vectors: np.ndarray) -> None:
    name = f"shard-{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.npz"
    arrays: dict[str, Any] = {"keys": np.array(keys, dtype="U64"),
                              "vectors": np.asarray(vectors, np.float32)}
    _atomic_write(self.directory / name, lambda f: np.savez(f, **arrays))
    self._vectors.update(zip(keys, arrays["vectors"]))
    self._loaded.add(name)
