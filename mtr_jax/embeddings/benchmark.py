"""Encoder throughput: tokens per second on batches of full-length texts.

    python -m mtr_jax.embeddings.benchmark [--encoder all-MiniLM-L6-v2] [--batches 8]

Texts are built to fill the encoder's input (max_seq_len tokens with [CLS] and
[SEP]); one warm-up batch compiles, then `--batches` batches are timed,
tokenization included. Prints one line per run.
"""

from __future__ import annotations

import argparse
import time

from mtr_jax.embeddings.encoder import make_encoder


def full_length_texts(encoder, n: int) -> list[str]:
  """n distinct texts of exactly `encoder.max_tokens` content tokens."""
  texts = []
  for i in range(n):
    words = " ".join(f"observation {i} step {j} the door is open" for j in range(200))
    texts.append(encoder.truncate_tokens(words, encoder.max_tokens, keep="start"))
  return texts


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--encoder", default="all-MiniLM-L6-v2")
  parser.add_argument("--batches", type=int, default=8)
  parser.add_argument("--batch-size", type=int, default=32)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()

  encoder = make_encoder(args.encoder, batch_size=args.batch_size)
  texts = full_length_texts(encoder, args.batch_size * args.batches)
  tokens = sum(encoder.count_tokens(t) + 2 for t in texts)   # + [CLS], [SEP]
  start = time.perf_counter()
  encoder.encode(texts[:args.batch_size])
  print(f"warm-up (compile + 1 batch): {time.perf_counter() - start:.2f} s")
  for _ in range(args.repeats):
    start = time.perf_counter()
    encoder.encode(texts)
    seconds = time.perf_counter() - start
    print(f"{len(texts)} texts, {tokens} tokens, batch {args.batch_size}: {seconds:.2f} s, "
          f"{tokens / seconds:,.0f} tokens/s, {len(texts) / seconds:.1f} texts/s")


if __name__ == "__main__":
  main()
