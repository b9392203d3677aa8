"""Tiny hand-made trajectories for the evaluation tests."""

from mtr_jax.trajectories import trajectory_from_dict

OK = "<observation>\nYou go to kitchen.\n</observation>"
ERR = "<observation>\nNo known action matches that input.\n</observation>"


def make_traj(models, *, kinds=None, observations=None, outcomes=None, actions=None,
              costs=None, score=0.0, task="fetch", family="search", benchmark="toy",
              failed_last=False, run=0):
  """One episode: step t is `models[t]`, followed by `observations[t]` (default
  OK). kinds/outcomes go to extra.simulated; family=None leaves out
  info.task_family. failed_last: the last step is a failed call (no usage, no
  observation)."""
  messages = [{"role": "system", "content": "system"},
              {"role": "user", "content": "task"}]
  n = len(models)
  for t, m in enumerate(models):
    action = actions[t] if actions else "go to kitchen"
    msg = {"role": "assistant", "content": f"THOUGHT: hm\n\n```text\n{action}\n```",
           "model_name": m}
    if failed_last and t == n - 1:
      msg["content"] = ""
      msg["extra"] = {"error": "boom"}
      messages.append(msg)
      break
    extra = {"response": {"usage": {"prompt_tokens": 10, "completion_tokens": 5,
                                    "cost": costs[t] if costs else 0.01}}}
    sim = {}
    if kinds:
      sim["step_kind"] = kinds[t]
    if outcomes:
      sim["outcome"] = outcomes[t]
    if sim:
      extra["simulated"] = sim
    msg["extra"] = extra
    messages.append(msg)
    messages.append({"role": "user",
                     "content": observations[t] if observations else OK})
  info = {"exit_status": "Submitted", "task_name": task, "variation_idx": 0,
          "benchmark": benchmark, "final_score": score, "simulated": True, "run": run}
  if family is not None:
    info["task_family"] = family
  return trajectory_from_dict({"info": info, "messages": messages})
