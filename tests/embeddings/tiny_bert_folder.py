"""A tiny random BERT in Hugging Face layout, and a NumPy reference forward pass.

`make_tiny_bert(folder)` writes config.json, model.safetensors (PyTorch tensor
names and layouts, plus a pooler and position_ids that loaders must ignore) and
a WordPiece tokenizer.json, so the real loading code runs in fast unit tests.
"""

from __future__ import annotations

import json
import math
import string
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "door", "is", "open", "kitchen", "turn", "task", "user", "assistant",
         "look", "around", "water", "boil", "focus", "on", "no", "known", "action"]
CONFIG = {"architectures": ["BertModel"], "hidden_act": "gelu", "hidden_size": 16,
          "intermediate_size": 32, "layer_norm_eps": 1e-12, "max_position_embeddings": 64,
          "model_type": "bert", "num_attention_heads": 2, "num_hidden_layers": 2,
          "pad_token_id": 0, "position_embedding_type": "absolute", "type_vocab_size": 2}


def tiny_vocab() -> list[str]:
  chars = string.ascii_lowercase + string.digits
  return (SPECIALS + list(chars + string.punctuation) + ["##" + c for c in chars] + WORDS)


def make_tiny_bert(folder: Path, seed: int = 0) -> Path:
  """Writes a random 2-layer, 16-wide BERT to `folder` and returns it."""
  folder.mkdir(parents=True, exist_ok=True)
  vocab = tiny_vocab()
  cfg = dict(CONFIG, vocab_size=len(vocab))
  (folder / "config.json").write_text(json.dumps(cfg))

  tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
  tok.normalizer = normalizers.BertNormalizer(lowercase=True)
  tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
  tok.post_processor = processors.TemplateProcessing(
      single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
  tok.save(str(folder / "tokenizer.json"))

  rng = np.random.default_rng(seed)
  h, i = cfg["hidden_size"], cfg["intermediate_size"]
  normal = lambda *shape: rng.normal(0.0, 0.3, shape).astype(np.float32)
  w = {"embeddings.word_embeddings.weight": normal(len(vocab), h),
       "embeddings.position_embeddings.weight": normal(cfg["max_position_embeddings"], h),
       "embeddings.token_type_embeddings.weight": normal(2, h),
       "embeddings.LayerNorm.weight": 1 + normal(h), "embeddings.LayerNorm.bias": normal(h),
       "embeddings.position_ids": np.arange(cfg["max_position_embeddings"])[None],
       "pooler.dense.weight": normal(h, h), "pooler.dense.bias": normal(h)}
  for layer in range(cfg["num_hidden_layers"]):
    p = f"encoder.layer.{layer}"
    shapes = {"attention.self.query": (h, h), "attention.self.key": (h, h),
              "attention.self.value": (h, h), "attention.output.dense": (h, h),
              "intermediate.dense": (i, h), "output.dense": (h, i)}
    for name, (out_dim, in_dim) in shapes.items():
      w[f"{p}.{name}.weight"] = normal(out_dim, in_dim)     # torch Linear: (out, in)
      w[f"{p}.{name}.bias"] = normal(out_dim)
    for name in ("attention.output.LayerNorm", "output.LayerNorm"):
      w[f"{p}.{name}.weight"] = 1 + normal(h)
      w[f"{p}.{name}.bias"] = normal(h)
  save_file(w, str(folder / "model.safetensors"))
  return folder


def _layer_norm(x, w, b, eps):
  mu = x.mean(-1, keepdims=True)
  var = ((x - mu) ** 2).mean(-1, keepdims=True)
  return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x):
  return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def reference_embedding(folder: Path, ids: list[int]) -> np.ndarray:
  """float64 NumPy BERT + mean pooling + L2 of one unpadded id list (HF semantics)."""
  from safetensors.numpy import load_file  # pylint: disable=import-outside-toplevel
  cfg = json.loads((folder / "config.json").read_text())
  w = {k: v.astype(np.float64) for k, v in load_file(str(folder / "model.safetensors")).items()}
  eps, heads = cfg["layer_norm_eps"], cfg["num_attention_heads"]
  lin = lambda x, name: x @ w[f"{name}.weight"].T + w[f"{name}.bias"]
  n = len(ids)
  x = (w["embeddings.word_embeddings.weight"][ids]
       + w["embeddings.position_embeddings.weight"][:n]
       + w["embeddings.token_type_embeddings.weight"][0])
  x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
  for layer in range(cfg["num_hidden_layers"]):
    p = f"encoder.layer.{layer}"
    split = lambda t: t.reshape(n, heads, -1).transpose(1, 0, 2)
    q, k, v = (split(lin(x, f"{p}.attention.self.{m}")) for m in ("query", "key", "value"))
    scores = q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    ctx = (probs @ v).transpose(1, 0, 2).reshape(n, -1)
    x = _layer_norm(x + lin(ctx, f"{p}.attention.output.dense"),
                    w[f"{p}.attention.output.LayerNorm.weight"],
                    w[f"{p}.attention.output.LayerNorm.bias"], eps)
    ffn = lin(_gelu(lin(x, f"{p}.intermediate.dense")), f"{p}.output.dense")
    x = _layer_norm(x + ffn, w[f"{p}.output.LayerNorm.weight"],
                    w[f"{p}.output.LayerNorm.bias"], eps)
  mean = x.mean(0)
  return mean / np.linalg.norm(mean)
