"""Token counting, truncation and model inputs with the real MiniLM tokenizer (no model)."""

import pytest

from mtr_jax.embeddings.encoder import minilm_folder
from mtr_jax.embeddings.tokens import TextTokens

TEXTS = [
    "Héllo wörld, unaffable naïve 日本語 café!!  [Turn 12 - assistant]\n\n[Task]",
    "This room is called the kitchen. In it, you see: a stove, which is turned off.",
    "supercalifragilisticexpialidocious antidisestablishmentarianism " * 3,
    "Emoji 🚀🔥 and Русский текст and نص عربي",
]


@pytest.fixture(name="tokens", scope="module")
def _tokens():
  return TextTokens(minilm_folder() / "tokenizer.json", max_seq_len=256)


def test_counts_exclude_special_tokens(tokens):
  assert tokens.num_special == 2
  assert tokens.max_tokens == 254
  assert tokens.count_tokens("") == 0
  assert tokens.count_tokens("hello world") == 2
  assert tokens.input_ids(["hello world"]) == [[101, 7592, 2088, 102]]


def test_input_ids_cut_long_texts_and_drop_empty_ones(tokens):
  ids = tokens.input_ids(["word " * 254, "word " * 255, "word " * 1000, "", " \n\t "])
  assert [len(x) for x in ids] == [256, 256, 256, 0, 0]
  assert ids[1][0] == 101 and ids[1][-1] == 102
  assert ids[0] == ids[1] == ids[2]


def test_input_ids_ignore_tokenizer_json_padding(tokens):
  # MiniLM's tokenizer.json pads and truncates to 128; we must do neither.
  assert len(tokens.input_ids(["a b"])[0]) == 4


@pytest.mark.parametrize("keep", ["start", "end"])
def test_truncate_respects_budget_and_keeps_the_right_end(tokens, keep):
  for text in TEXTS:
    total = tokens.count_tokens(text)
    for n in range(0, total + 3):
      piece = tokens.truncate_tokens(text, n, keep)
      assert tokens.count_tokens(piece) <= n
      assert (text.startswith(piece) if keep == "start" else text.endswith(piece))
      if n >= total:
        assert piece == text


def test_truncate_prefers_word_boundaries(tokens):
  text = "alpha unaffable omega"                    # unaffable = una ##ffa ##ble
  assert tokens.truncate_tokens(text, 3, "start") == "alpha"
  assert tokens.truncate_tokens(text, 3, "end") == "omega"
  assert tokens.truncate_tokens(text, 4, "end") == "unaffable omega"


def test_truncate_cuts_inside_a_word_longer_than_the_budget(tokens):
  piece = tokens.truncate_tokens("unaffable", 2, "start")
  assert piece and tokens.count_tokens(piece) <= 2


def test_truncate_rejects_bad_keep(tokens):
  with pytest.raises(ValueError, match="keep"):
    tokens.truncate_tokens("a b c", 1, "middle")
