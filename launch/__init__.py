"""Launchers: turn a config file's `sweep(add)` into jobs and run them.

  python -m launch.local --config=experiments/configs/default.py:quick --workdir=runs/sweep1
  python -m launch.slurm --config=experiments/configs/default.py --workdir=runs/sweep1
  python -m launch.wandb_sweep --config=experiments/configs/default.py --workdir=runs/sweep1
  python -m launch.run_one --manifest runs/sweep1/manifest.json --index 3
  python -m launch.plot --workdir=runs/sweep1

sweep.py expands a sweep into jobs; manifest.py holds the one manifest of a sweep
and the per-job status files; runner.py runs one job in the current process.
"""
