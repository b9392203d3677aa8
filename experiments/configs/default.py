"""The main job: collect on the testbed, then (as later stages land) train and route.

  python experiments/main.py --config=experiments/configs/default.py
  python experiments/main.py --config=experiments/configs/default.py:env=scienceworld
  python experiments/main.py --config=experiments/configs/default.py:quick \
      --config.collect.workers=1

Arguments after the colon are comma-separated: `quick` shrinks everything for a
laptop run, `env=NAME` picks the environment (twx | scienceworld).
"""

import ml_collections


def _parse(arg):
  out = {}
  for part in filter(None, (arg or "").split(",")):
    key, _, value = part.partition("=")
    out[key] = value or True
  return out


def get_config(arg=None):
  args = _parse(arg)
  quick = bool(args.get("quick"))
  env = args.get("env", "twx")
  c = ml_collections.ConfigDict()
  c.env = env
  c.pool = "paper6"
  c.seed = 0

  c.collect = ml_collections.ConfigDict()
  c.collect.workers = 2
  # Roulette (uniform random model each turn) on the train split: the estimator's data.
  c.collect.train_runs = 1 if quick else 5
  # Single-model baselines on the held-out split.
  c.collect.eval_split = "test_id"
  c.collect.eval_runs = 1 if quick else 3
  # At most this many variations per task (0: all of the split).
  c.collect.max_variations = 2 if quick else (4 if env == "twx" else 0)
  c.collect.step_limit = 30 if env == "twx" else 50
  c.collect.cost_limit = 1.0 if env == "twx" else 2.0
  return c
