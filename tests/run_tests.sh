#!/usr/bin/env bash
# Install the package with its test extras and run the whole test suite.
# The SLURM tests (tests/slurm/) install and start a single-node SLURM from Debian's
# packages when none is running (tests/slurm/setup_slurm.sh); with CI set, a SLURM that
# cannot start fails the run instead of skipping those tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e ".[test]"
python -m pytest "$@"
