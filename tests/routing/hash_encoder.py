"""A deterministic stand-in for a text encoder, shared by the routing tests."""

import hashlib

import numpy as np

DIM = 8


class HashEncoder:
  """Hash-seeded unit vectors; counts whitespace words as tokens (unit tests only)."""

  name, dim, max_tokens = "hash", DIM, 200
  fingerprint = {"name": "hash", "dim": DIM}

  def count_tokens(self, text):
    return len(text.split())

  def truncate_tokens(self, text, n, keep="end"):
    words = text.split()
    return " ".join(words[-n:] if keep == "end" else words[:n])

  def encode(self, texts, progress=False):
    out = np.zeros((len(texts), DIM), np.float32)
    for i, t in enumerate(texts):
      if t:
        seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "little")
        v = np.random.default_rng(seed).standard_normal(DIM)
        out[i] = v / np.linalg.norm(v)
    return out
