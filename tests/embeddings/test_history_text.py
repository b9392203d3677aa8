"""History text: task extraction, context rendering, truncation edges."""

import pytest

from mtr_jax.embeddings.history import (MARKER_TOKENS, PER_MESSAGE_TOKENS, Part, extract_task,
                                        fit_to_budget, history_text, split_history)


class WordBudget:
  """A token budget where a token is a whitespace-separated word."""

  def __init__(self, max_tokens=100):
    self.max_tokens = max_tokens

  def count_tokens(self, text):
    return len(text.split())

  def truncate_tokens(self, text, n, keep="end"):
    words = text.split()
    return " ".join(words[:n] if keep == "start" else words[len(words) - n:] if n else [])


SYSTEM = {"role": "system", "content": "You are a helpful agent. Reply with one action."}
FIRST = {"role": "user", "content": (
    "Solve this.\n<task_description>\nYour task is to boil water.\n</task_description>\n\n"
    "<initial_observation>\nThis room is called the kitchen.\n</initial_observation>")}


def step(n):
  return [{"role": "assistant", "content": f"THOUGHT: act {n}\n```text\nlook around\n```"},
          {"role": "user", "content": f"<observation>\nresult {n}\n</observation>"}]


def test_full_rendering_and_turn_numbers():
  messages = [SYSTEM, FIRST] + step(1) + step(2)
  assert history_text(messages) == (
      "[Task]\nYour task is to boil water.\n\n[Context]\nThis room is called the kitchen.\n\n"
      "[Turn 1 - assistant]\nTHOUGHT: act 1\n```text\nlook around\n```\n\n"
      "[Turn 1 - user]\n<observation>\nresult 1\n</observation>\n\n"
      "[Turn 2 - assistant]\nTHOUGHT: act 2\n```text\nlook around\n```\n\n"
      "[Turn 2 - user]\n<observation>\nresult 2\n</observation>")


def test_system_messages_dropped_anywhere():
  with_system = [SYSTEM, FIRST, step(1)[0], SYSTEM, step(1)[1]]
  assert history_text(with_system) == history_text([FIRST] + step(1))
  assert "helpful agent" not in history_text(with_system)


def test_no_context_gives_task_only():
  first = {"role": "user",
           "content": "<task_description>Your task is to melt ice.</task_description>"}
  assert history_text([SYSTEM, first]) == "[Task]\nYour task is to melt ice."


def test_qa_first_message_is_task_and_not_repeated():
  question = {"role": "user", "content": "What is the boiling point of ethanol at sea level?"}
  assert history_text([question]) == "[Task]\nWhat is the boiling point of ethanol at sea level?"
  answer = {"role": "assistant", "content": "78.37 C"}
  assert history_text([question, answer]) == (
      "[Task]\nWhat is the boiling point of ethanol at sea level?\n\n[Context]\n"
      "[Turn 1 - assistant]\n78.37 C")


def test_task_sentence_fallback():
  text = "Welcome. Your task is to find a living thing. Then go outside.\nMore text."
  assert extract_task(text) == "Your task is to find a living thing."
  assert extract_task("your task is to grow a plant\nnext line") == "your task is to grow a plant"
  assert extract_task("  nothing special here ") == "nothing special here"


def test_empty_history_is_empty_string():
  assert history_text([]) == ""
  assert history_text([SYSTEM]) == ""
  assert history_text([], WordBudget(50)) == ""


def test_messages_before_first_assistant_are_turn_zero():
  task, parts = split_history([FIRST, {"role": "user", "content": "hint"}] + step(1))
  assert [p.header for p in parts] == [None, "[Turn 0 - user]", "[Turn 1 - assistant]",
                                       "[Turn 1 - user]"]
  assert task == "Your task is to boil water."


def test_content_parts_lists_are_joined():
  message = {"role": "user", "content": [{"type": "text", "text": "Your task is to x."},
                                         {"type": "image_url", "image_url": {}}]}
  assert history_text([message]) == "[Task]\nYour task is to x."


def test_everything_fits_is_not_truncated():
  messages = [FIRST] + step(1) + step(2)
  assert history_text(messages, WordBudget(1000)) == history_text(messages)


def test_walk_keeps_newest_whole_messages_that_fit():
  parts = [Part(None, "old " * 10), Part("[Turn 1 - assistant]", "a " * 10),
           Part("[Turn 1 - user]", "b " * 10)]
  # budget 100 - 20 = 80; task 5; each part costs 10 + 10 = 20: all three fit (65).
  task, kept = fit_to_budget("t " * 5, parts, WordBudget(100), 100)
  assert kept == parts
  # budget 70 - 20 = 50; task 5 leaves 45: the newest two fit (40), the oldest does not.
  task, kept = fit_to_budget("t " * 5, parts, WordBudget(70), 70)
  assert kept == parts[1:]
  assert task == "t " * 5


def test_walk_stops_at_first_part_that_does_not_fit():
  parts = [Part(None, "x"), Part("[Turn 1 - assistant]", "big " * 40), Part("[Turn 1 - user]", "y")]
  _, kept = fit_to_budget("t", parts, WordBudget(60), 60)
  assert kept == parts[2:]          # "x" would fit, but the context stays contiguous


def test_task_longer_than_limit_is_cut_and_context_dropped():
  long_task = " ".join(f"w{i}" for i in range(200))
  first = {"role": "user", "content": f"<task_description>{long_task}</task_description>"
                                      "<initial_observation>room</initial_observation>"}
  text = history_text([first] + step(1), WordBudget(64))
  assert text == "[Task]\n" + " ".join(f"w{i}" for i in range(64 - MARKER_TOKENS))
  assert "[Context]" not in text


def test_newest_message_longer_than_limit_keeps_its_end():
  long_obs = " ".join(f"o{i}" for i in range(500))
  messages = [FIRST, step(1)[0], {"role": "user", "content": long_obs}]
  budget = WordBudget(100)
  text = history_text(messages, budget)
  task_tokens = len("Your task is to boil water.".split())
  keep = 100 - MARKER_TOKENS - task_tokens - PER_MESSAGE_TOKENS
  assert text == ("[Task]\nYour task is to boil water.\n\n[Context]\n[Turn 1 - user]\n"
                  + " ".join(f"o{i}" for i in range(500 - keep, 500)))


def test_task_filling_budget_leaves_no_context():
  parts = [Part("[Turn 1 - user]", "obs " * 5)]
  for task_words in (80, 75, 70):   # left: 0, 5, 10 <= PER_MESSAGE_TOKENS
    _, kept = fit_to_budget("t " * task_words, parts, WordBudget(100), 100)
    assert kept == []
  _, kept = fit_to_budget("t " * 69, parts, WordBudget(100), 100)
  assert kept == [Part("[Turn 1 - user]", "obs")]   # one token left for content


def test_max_tokens_too_small_raises():
  with pytest.raises(ValueError, match="marker"):
    history_text([FIRST], WordBudget(10))


def test_real_tokenizer_keeps_within_encoder_limit(minilm_tokens):
  messages = [SYSTEM, FIRST]
  for n in range(1, 40):
    messages += [{"role": "assistant", "content": f"THOUGHT: step {n}, I will look. " * 3},
                 {"role": "user",
                  "content": f"<observation>\n{f'The room {n} has a door. ' * 4}</observation>"}]
    text = history_text(messages, minilm_tokens)
    assert minilm_tokens.count_tokens(text) <= minilm_tokens.max_tokens
    assert text.endswith("</observation>")       # the newest message is always there
  assert "[Turn 39 - user]" in text and "[Turn 1 - assistant]" not in text


@pytest.fixture(name="minilm_tokens", scope="module")
def _minilm_tokens():
  from mtr_jax.embeddings.encoder import minilm_folder  # pylint: disable=import-outside-toplevel
  from mtr_jax.embeddings.tokens import TextTokens  # pylint: disable=import-outside-toplevel
  return TextTokens(minilm_folder() / "tokenizer.json", max_seq_len=256)
