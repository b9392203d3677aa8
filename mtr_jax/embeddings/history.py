"""The text that represents a conversation history to the history encoder (SPEC §2).

    [Task]
    {task}

    [Context]
    {initial observation}

    [Turn 1 - assistant]
    {content}

    [Turn 1 - user]
    {content}
    ...

- task: `<task_description>` of the first user message, else its first
  "Your task is to ..." sentence, else the whole first user message.
- context: system messages are dropped; the first user message contributes
  only its `<initial_observation>` (plain, no header), or nothing when it has
  none (a QA question is the task itself); every later message gets a header.
- turn numbering: n counts assistant messages. An assistant message opens turn
  n (the first is turn 1) and the messages after it (the observation its action
  produced) carry the same n, so "[Turn 3 - user]" answers "[Turn 3 - assistant]"
  and n is the number of agent steps taken so far. Messages before the first
  assistant message are turn 0.
- truncation (when a token budget is given): see `history_text`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping, Protocol, Sequence

MARKER_TOKENS = 20        # reserved for "[Task]", "[Context]" and special tokens
PER_MESSAGE_TOKENS = 10   # charged per context message for its header and separator

_TASK_TAG = re.compile(r"<task_description>(.*?)</task_description>", re.DOTALL)
_OBS_TAG = re.compile(r"<initial_observation>(.*?)</initial_observation>", re.DOTALL)
_TASK_SENTENCE = re.compile(r"your task is to\b[^\n]*?(?:[.!?](?=\s|$)|(?=\n)|$)", re.IGNORECASE)


class TokenBudget(Protocol):
  """What truncation needs from an encoder (every `TextEncoder` has it)."""

  max_tokens: int

  def count_tokens(self, text: str) -> int: ...

  def truncate_tokens(self, text: str, n: int, keep: str = "end") -> str: ...


@dataclasses.dataclass(frozen=True)
class Part:
  """One context entry: a header ("[Turn 2 - user]", or None) and its content."""

  header: str | None
  content: str

  def render(self) -> str:
    return self.content if self.header is None else f"{self.header}\n{self.content}"


def content_text(message: Mapping[str, Any]) -> str:
  """A message's text: a string, or the text parts of an OpenAI-style content list."""
  content = message.get("content")
  if content is None:
    return ""
  if isinstance(content, str):
    return content
  return "\n".join(p.get("text", "") for p in content if isinstance(p, Mapping))


def extract_task(first_user: str) -> str:
  """The task of an episode, from its first user message."""
  if m := _TASK_TAG.search(first_user):
    return m.group(1).strip()
  if m := _TASK_SENTENCE.search(first_user):
    return m.group(0).strip()
  return first_user.strip()


def split_history(messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[Part]]:
  """(task, context parts oldest first) of a message list; ("", []) without a user message."""
  task, parts, turn, seen_first_user = "", [], 0, False
  for message in messages:
    role = message.get("role", "")
    if role == "system":
      continue
    text = content_text(message)
    if role == "user" and not seen_first_user:
      seen_first_user = True
      task = extract_task(text)
      if m := _OBS_TAG.search(text):
        parts.append(Part(None, m.group(1).strip()))
      continue
    if role == "assistant":
      turn += 1
    parts.append(Part(f"[Turn {turn} - {role}]", text.strip()))
  return task, parts


def format_history(task: str, parts: Sequence[Part]) -> str:
  """"[Task]\\n{task}\\n\\n[Context]\\n{context}", or "[Task]\\n{task}" without context."""
  text = f"[Task]\n{task}"
  if parts:
    text += "\n\n[Context]\n" + "\n\n".join(p.render() for p in parts)
  return text


def fit_to_budget(task: str, parts: Sequence[Part], tokens: TokenBudget,
                  max_tokens: int) -> tuple[str, list[Part]]:
  """Task and the newest context parts that fit `max_tokens` (SPEC §2 truncation).

  - `MARKER_TOKENS` are reserved; the rest is the budget.
  - A task longer than the budget is cut to it (its start kept) and the
    context is dropped.
  - Otherwise parts are taken newest first, whole, each costing its content
    tokens + `PER_MESSAGE_TOKENS`, while they fit; the walk stops at the first
    part that does not fit (the context stays contiguous).
  - The newest part is always kept: if it alone does not fit, its content is
    cut from the front (its end kept) to what is left. Only when the task
    leaves no room for even one content token (<= PER_MESSAGE_TOKENS) is
    the context empty.
  """
  budget = max_tokens - MARKER_TOKENS
  if budget <= 0:
    raise ValueError(f"max_tokens {max_tokens} leaves no room after {MARKER_TOKENS} marker tokens")
  task_tokens = tokens.count_tokens(task)
  if task_tokens > budget:
    return tokens.truncate_tokens(task, budget, keep="start"), []
  left = budget - task_tokens
  kept: list[Part] = []
  for part in reversed(parts):
    cost = tokens.count_tokens(part.content) + PER_MESSAGE_TOKENS
    if cost > left:
      break
    kept.append(part)
    left -= cost
  if not kept and parts and left > PER_MESSAGE_TOKENS:
    newest = parts[-1]
    content = tokens.truncate_tokens(newest.content, left - PER_MESSAGE_TOKENS, keep="end")
    kept.append(Part(newest.header, content))
  return task, kept[::-1]


def history_text(messages: Sequence[Mapping[str, Any]], tokens: TokenBudget | None = None,
                 max_tokens: int | None = None) -> str:
  """The encoder input for a history; "" for an empty history (it embeds to zeros).

  Args:
    messages: the message list sent to the LLM ({"role", "content"} dicts).
    tokens: counts and cuts tokens (the history encoder); None: no truncation.
    max_tokens: the budget; defaults to `tokens.max_tokens`.
  """
  task, parts = split_history(messages)
  if not task and not parts:
    return ""
  if tokens is not None:
    task, parts = fit_to_budget(task, parts, tokens,
                                tokens.max_tokens if max_tokens is None else max_tokens)
  return format_history(task, parts)
