"""Hand-built trajectory dicts for the samples and targets tests."""

from __future__ import annotations

ERR = "<observation>\nNo known action matches that input.\n</observation>"
OK = "<observation>\nDone.\n</observation>"


def call(model: str, cost: float, propensity: float | None = None,
         error: str | None = None) -> dict:
  msg = {"role": "assistant", "content": "```text\nlook around\n```",
         "model_name": model,
         "extra": {"response": {"model": model, "usage": {
             "prompt_tokens": 100, "completion_tokens": 10, "cost": cost}}}}
  if propensity is not None:
    msg["propensity"] = propensity
  if error is not None:
    msg["error"] = error
  return msg


def episode(steps, score: float, benchmark: str = "scienceworld",
            task_id: str = "boil_var0_run0") -> dict:
  """steps: (model, cost, observation or None[, call kwargs])."""
  messages = [{"role": "system", "content": "You are an agent."},
              {"role": "user", "content": "<task_description>\nBoil water.\n"
               "</task_description>"}]
  for model, cost, obs, *kw in steps:
    messages.append(call(model, cost, **(kw[0] if kw else {})))
    if obs is not None:
      messages.append({"role": "user", "content": obs})
  return {"trajectory_format": "mini-agentic-router-1",
          "info": {"exit_status": "Submitted", "task_id": task_id,
                   "benchmark": benchmark, "final_score": score},
          "messages": messages}
