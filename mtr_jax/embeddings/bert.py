"""A BERT encoder in flax.nnx, loaded from a Hugging Face folder, with mean pooling.

Matches `transformers.BertModel` in eval mode (post-LN blocks, exact-erf GELU,
absolute positions, token type 0) followed by sentence-transformers' mean
pooling over real tokens and L2 normalisation. Weights come from
`model.safetensors` (PyTorch layout: Linear weights are (out, in), so they are
transposed) and the shapes from `config.json`.

The jit boundary is the pure function `embed(graphdef, state, ids, mask)`:
split the model once, merge inside the jitted function.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from safetensors.numpy import load_file

Precision = str | jax.lax.Precision | None


@dataclasses.dataclass(frozen=True)
class BertConfig:
  """The fields of a Hugging Face BERT `config.json` that the forward pass uses."""

  vocab_size: int
  hidden_size: int
  num_hidden_layers: int
  num_attention_heads: int
  intermediate_size: int
  max_position_embeddings: int
  type_vocab_size: int = 2
  layer_norm_eps: float = 1e-12
  pad_token_id: int = 0

  @classmethod
  def from_json(cls, path: str | Path) -> BertConfig:
    """Reads `config.json`; refuses settings this implementation does not follow."""
    raw = json.loads(Path(path).read_text())
    if raw.get("hidden_act", "gelu") != "gelu":
      raise ValueError(f"{path}: hidden_act {raw['hidden_act']!r} unsupported (only 'gelu')")
    if raw.get("position_embedding_type", "absolute") != "absolute":
      raise ValueError(f"{path}: only absolute position embeddings are supported")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in raw.items() if k in names})


def _layer_norm(cfg: BertConfig, rngs: nnx.Rngs) -> nnx.LayerNorm:
  # Two-pass variance, as torch.nn.LayerNorm computes it.
  return nnx.LayerNorm(cfg.hidden_size, epsilon=cfg.layer_norm_eps,
                       use_fast_variance=False, rngs=rngs)


class Embeddings(nnx.Module):
  """Word + absolute position + token type (always 0) embeddings, then LayerNorm."""

  def __init__(self, cfg: BertConfig, *, rngs: nnx.Rngs):
    self.word = nnx.Embed(cfg.vocab_size, cfg.hidden_size, rngs=rngs)
    self.position = nnx.Embed(cfg.max_position_embeddings, cfg.hidden_size, rngs=rngs)
    self.token_type = nnx.Embed(cfg.type_vocab_size, cfg.hidden_size, rngs=rngs)
    self.norm = _layer_norm(cfg, rngs)

  def __call__(self, ids_BxL: jax.Array) -> jax.Array:
    positions_1xL = jnp.arange(ids_BxL.shape[1])[None, :]
    x = (self.word(ids_BxL) + self.position(positions_1xL)
         + self.token_type(jnp.zeros_like(ids_BxL)))
    return self.norm(x)


class SelfAttention(nnx.Module):
  """Multi-head self-attention over the unmasked keys."""

  def __init__(self, cfg: BertConfig, precision: Precision, *, rngs: nnx.Rngs):
    h = cfg.hidden_size
    self.num_heads = cfg.num_attention_heads
    self.precision = precision
    self.query = nnx.Linear(h, h, precision=precision, rngs=rngs)
    self.key = nnx.Linear(h, h, precision=precision, rngs=rngs)
    self.value = nnx.Linear(h, h, precision=precision, rngs=rngs)
    self.out = nnx.Linear(h, h, precision=precision, rngs=rngs)

  def __call__(self, x_BxLxH: jax.Array, mask_BxL: jax.Array) -> jax.Array:
    b, l, h = x_BxLxH.shape
    heads = lambda t: t.reshape(b, l, self.num_heads, h // self.num_heads)
    q, k, v = heads(self.query(x_BxLxH)), heads(self.key(x_BxLxH)), heads(self.value(x_BxLxH))
    scores_BxNxLxL = jnp.einsum("bqnd,bknd->bnqk", q, k, precision=self.precision)
    scores_BxNxLxL = scores_BxNxLxL / np.sqrt(h // self.num_heads).astype(np.float32)
    keep_Bx1x1xL = mask_BxL[:, None, None, :].astype(bool)
    scores_BxNxLxL = jnp.where(keep_Bx1x1xL, scores_BxNxLxL, jnp.finfo(scores_BxNxLxL.dtype).min)
    probs = jax.nn.softmax(scores_BxNxLxL, axis=-1)
    ctx_BxLxNxD = jnp.einsum("bnqk,bknd->bqnd", probs, v, precision=self.precision)
    return self.out(ctx_BxLxNxD.reshape(b, l, h))


class Layer(nnx.Module):
  """One post-LN transformer block: attention and a GELU feed-forward network."""

  def __init__(self, cfg: BertConfig, precision: Precision, *, rngs: nnx.Rngs):
    self.attention = SelfAttention(cfg, precision, rngs=rngs)
    self.attention_norm = _layer_norm(cfg, rngs)
    self.intermediate = nnx.Linear(cfg.hidden_size, cfg.intermediate_size,
                                   precision=precision, rngs=rngs)
    self.output = nnx.Linear(cfg.intermediate_size, cfg.hidden_size,
                             precision=precision, rngs=rngs)
    self.output_norm = _layer_norm(cfg, rngs)

  def __call__(self, x_BxLxH: jax.Array, mask_BxL: jax.Array) -> jax.Array:
    x_BxLxH = self.attention_norm(x_BxLxH + self.attention(x_BxLxH, mask_BxL))
    ffn = self.output(jax.nn.gelu(self.intermediate(x_BxLxH), approximate=False))
    return self.output_norm(x_BxLxH + ffn)


class BertModel(nnx.Module):
  """The BERT encoder stack; returns the last hidden states [B, L, H]."""

  def __init__(self, cfg: BertConfig, precision: Precision = "highest", *, rngs: nnx.Rngs):
    self.embeddings = Embeddings(cfg, rngs=rngs)
    self.layers = nnx.List([Layer(cfg, precision, rngs=rngs)
                            for _ in range(cfg.num_hidden_layers)])

  def __call__(self, ids_BxL: jax.Array, mask_BxL: jax.Array) -> jax.Array:
    x_BxLxH = self.embeddings(ids_BxL)
    for layer in self.layers:
      x_BxLxH = layer(x_BxLxH, mask_BxL)
    return x_BxLxH


def mean_pool_l2(hidden_BxLxH: jax.Array, mask_BxL: jax.Array) -> jax.Array:
  """Mean over real tokens, then L2 normalisation; a fully masked row gives zeros.

  The clamps (1e-9 on the token count, 1e-12 on the norm) are
  sentence-transformers' Pooling and Normalize.
  """
  m_BxLx1 = mask_BxL[:, :, None].astype(hidden_BxLxH.dtype)
  summed_BxH = jnp.sum(hidden_BxLxH * m_BxLx1, axis=1)
  mean_BxH = summed_BxH / jnp.maximum(jnp.sum(m_BxLx1, axis=1), 1e-9)
  norm_Bx1 = jnp.linalg.norm(mean_BxH, axis=-1, keepdims=True)
  return mean_BxH / jnp.maximum(norm_Bx1, 1e-12)


def embed(graphdef: nnx.GraphDef, state: nnx.State, ids_BxL: jax.Array,
          mask_BxL: jax.Array) -> jax.Array:
  """Pure forward pass + pooling: the function to jit (graphdef bound, e.g. by partial)."""
  model = nnx.merge(graphdef, state)
  return mean_pool_l2(model(ids_BxL, mask_BxL), mask_BxL)


def _linear(w: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
  return {"kernel": w[f"{prefix}.weight"].T, "bias": w[f"{prefix}.bias"]}


def _norm(w: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
  return {"scale": w[f"{prefix}.weight"], "bias": w[f"{prefix}.bias"]}


def params_from_hf(w: Mapping[str, np.ndarray], cfg: BertConfig) -> dict[str, Any]:
  """Our parameter tree (a pure dict) from Hugging Face BERT tensor names.

  Accepts checkpoints saved from `BertModel` and from task heads (`bert.` prefix);
  the pooler and other heads are ignored.
  """
  if "bert.embeddings.word_embeddings.weight" in w:
    w = {k[len("bert."):]: v for k, v in w.items() if k.startswith("bert.")}
  e = "embeddings"
  layers = {}
  for i in range(cfg.num_hidden_layers):
    p = f"encoder.layer.{i}"
    layers[i] = {
        "attention": {name: _linear(w, f"{p}.attention.self.{name}")
                      for name in ("query", "key", "value")}
                     | {"out": _linear(w, f"{p}.attention.output.dense")},
        "attention_norm": _norm(w, f"{p}.attention.output.LayerNorm"),
        "intermediate": _linear(w, f"{p}.intermediate.dense"),
        "output": _linear(w, f"{p}.output.dense"),
        "output_norm": _norm(w, f"{p}.output.LayerNorm"),
    }
  return {
      "embeddings": {
          "word": {"embedding": w[f"{e}.word_embeddings.weight"]},
          "position": {"embedding": w[f"{e}.position_embeddings.weight"]},
          "token_type": {"embedding": w[f"{e}.token_type_embeddings.weight"]},
          "norm": _norm(w, f"{e}.LayerNorm"),
      },
      "layers": layers,
  }


def load_bert(folder: str | Path, precision: Precision = "highest"
              ) -> tuple[BertConfig, nnx.GraphDef, nnx.State]:
  """Config, graphdef and weights of the BERT in `folder` (config.json + model.safetensors).

  `precision` applies to every matmul; "highest" keeps float32 on accelerators
  (TF32 would cost parity with the PyTorch reference).
  """
  folder = Path(folder)
  cfg = BertConfig.from_json(folder / "config.json")
  abstract = nnx.eval_shape(lambda: BertModel(cfg, precision, rngs=nnx.Rngs(0)))
  graphdef, state = nnx.split(abstract)
  params = params_from_hf(load_file(str(folder / "model.safetensors")), cfg)
  want = jax.tree.map(lambda s: s.shape, nnx.to_pure_dict(state))
  got = jax.tree.map(lambda a: a.shape, params)
  if want != got:
    raise ValueError(f"{folder}: weights do not match config.json's shapes")
  nnx.replace_by_pure_dict(state, jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params))
  return cfg, graphdef, state
