"""Rebuilds twx_gold.json.gz: `python -m mtr_jax.envs.build_twx_data`.

The gold path of every split seed of every game (with GAME_PARAMS), each
checked to win from a fresh game. Needed because coin's gold agent is an
unseeded random walk (the other games' gold paths are functions of the seed).
"""

from __future__ import annotations

import gzip
import json

from mtr_jax.envs import twx
from mtr_jax.envs.splits import SPLITS, split_tasks


def main() -> None:
  env = twx.TextWorldExpressEnv(use_gold_cache=False)
  gold: dict[str, dict[str, list[str]]] = {}
  try:
    refs = sorted({(r.task, r.variation) for s in SPLITS for r in split_tasks("twx", s)})
    for game, seed in refs:
      env.reset(game, seed)
      actions = env.gold_actions()
      env.reset(game, seed)
      for a in actions:
        if env.step(a).done:
          break
      if env.score != 100:
        raise SystemExit(f"twx gold path of {game} seed {seed} reaches {env.score}, not 100")
      gold.setdefault(game, {})[str(seed)] = actions
  finally:
    env.close()
  import textworld_express
  out = {"textworld_express_version": textworld_express.__version__,
         "params": {g: twx.GAME_PARAMS[g] for g in sorted(gold)},
         "gold": {g: dict(sorted(v.items(), key=lambda kv: int(kv[0]))) for g, v in sorted(gold.items())}}
  with open(twx.GOLD_FILE, "wb") as f:
    f.write(gzip.compress(json.dumps(out, separators=(",", ":")).encode(), mtime=0))
  print(f"wrote {twx.GOLD_FILE}: {sum(len(v) for v in gold.values())} gold paths, all win")


if __name__ == "__main__":
  main()
