"""Entry point of the paper's comparison table on the testbed (SPEC section 7).

  python experiments/paper.py                                   # ScienceWorld
  python experiments/paper.py --config=experiments/configs/paper.py:quick --workdir=runs/pq
  python experiments/paper.py --config=experiments/configs/paper.py:env=twx --workdir=runs/pt

Writes WORKDIR/table.md, report.json, plots/*.png and an offline W&B run; a rerun
skips finished episodes, cached embeddings, a finished estimator and fitted baselines.
"""

from pathlib import Path

from _entrypoint import run

from mtr_jax.paper_table import run as paper_table

if __name__ == "__main__":
  run(paper_table, str(Path(__file__).parent / "configs" / "paper.py"), "runs/paper_sw")
