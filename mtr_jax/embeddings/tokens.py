"""Token counting, token-level truncation and model inputs from a `tokenizer.json`.

Works for any Hugging Face fast tokenizer file (WordPiece for BERT, BPE for
decoder embedders): nothing here depends on the vocabulary's kind.

Counts are of *content* tokens: the special tokens the model adds around every
text ([CLS] and [SEP] for BERT) are not counted, so a text with
`count_tokens(text) <= max_tokens` reaches the model whole. A `TextTokens`
is a `history.TokenBudget`: histories can be cut without loading the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

from tokenizers import Tokenizer

Keep = Literal["start", "end"]


class TextTokens:
  """A tokenizer plus the model's sequence length.

  Attributes:
    max_seq_len: the most tokens one model input holds, special tokens included.
    max_tokens: the most content tokens one text may have to reach the model whole.
    pad_id: the padding token's id.
  """

  def __init__(self, tokenizer_file: str | Path, max_seq_len: int, pad_id: int = 0):
    self._tok = Tokenizer.from_file(str(tokenizer_file))
    # tokenizer.json may carry its own padding / truncation (MiniLM's: 128);
    # we pad ourselves and truncate to the model's length.
    self._tok.no_padding()
    self._tok.no_truncation()
    self.num_special = len(self._tok.encode("").ids)
    if max_seq_len <= self.num_special:
      raise ValueError(f"max_seq_len {max_seq_len} leaves no room for content")
    self.max_seq_len = max_seq_len
    self.max_tokens = max_seq_len - self.num_special
    self.pad_id = pad_id

  def count_tokens(self, text: str) -> int:
    """Content tokens of `text` (no special tokens, no truncation)."""
    return len(self._tok.encode(text, add_special_tokens=False).ids)

  def truncate_tokens(self, text: str, n: int, keep: Keep = "end") -> str:
    """The longest piece of `text` of at most `n` tokens, from its start or end.

    `keep="end"` cuts from the front (the newest part of a history stays);
    `keep="start"` cuts from the back. Cuts fall on word boundaries where a
    word boundary lies inside the kept tokens, so the piece re-tokenizes to the
    same tokens; `count_tokens(truncate_tokens(text, n, keep)) <= n` always holds.
    """
    if keep not in ("start", "end"):
      raise ValueError(f"keep must be 'start' or 'end', got {keep!r}")
    enc = self._tok.encode(text, add_special_tokens=False)
    total = len(enc.ids)
    if total <= n:
      return text
    budget = n
    while budget > 0:
      piece = self._cut(text, enc.offsets, enc.word_ids, budget, keep)
      excess = self.count_tokens(piece) - n
      if excess <= 0:
        return piece
      budget -= excess
    return ""

  @staticmethod
  def _cut(text: str, offsets: Sequence[tuple[int, int]],
           word_ids: Sequence[int | None], n: int, keep: Keep) -> str:
    """Cuts `text` to its first or last `n` tokens, preferring word boundaries."""
    total = len(offsets)
    if keep == "start":
      stop = n                                   # first dropped token
      while stop > 0 and word_ids[stop] is not None and word_ids[stop] == word_ids[stop - 1]:
        stop -= 1
      if stop == 0:                              # one word longer than n tokens
        stop = n
      return text[:offsets[stop - 1][1]]
    start = total - n                            # first kept token
    while (start < total and word_ids[start] is not None
           and word_ids[start] == word_ids[start - 1]):
      start += 1
    if start == total:
      start = total - n
    return text[offsets[start][0]:]

  def input_ids(self, texts: Sequence[str]) -> list[list[int]]:
    """Model input ids per text: special tokens added, cut to `max_seq_len`.

    A text without content tokens (empty, whitespace) gives `[]`: it embeds to
    zeros rather than to the vector of "[CLS] [SEP]".
    Long texts keep their first `max_tokens` content tokens, as
    sentence-transformers does.
    """
    encs = self._tok.encode_batch(list(texts), add_special_tokens=False)
    out = []
    for enc in encs:
      if not enc.ids:
        out.append([])
        continue
      enc.truncate(self.max_tokens)
      out.append(self._tok.post_process(enc).ids)
    return out
