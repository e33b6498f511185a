#!/usr/bin/env bash
# `npm run test:interop` (the last part of `npm test`): the Python interop tests in test/interop/, run
# against the real Hugging Face datasets, Transformers, PyTorch and Slurm. Without .venv they are not
# run, and one line says how to create it; with MEAP_INTEROP=required (CI) that is a failure, and so is
# any skipped test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  if [ "${MEAP_INTEROP:-}" = required ]; then
    echo "meap: error: MEAP_INTEROP=required but there is no .venv; run npm run setup:interop" >&2
    exit 1
  fi
  echo "meap: the Python interop tests (test/interop/) did not run: no .venv here; create it with: npm run setup:interop"
  exit 0
fi
if [ "$(cat .venv/.meap-requirements.sha256 2>/dev/null)" != "$(sha256sum interop/requirements.txt | cut -d' ' -f1)" ]; then
  echo "meap: error: .venv was built from another interop/requirements.txt; run npm run setup:interop" >&2
  exit 1
fi
# Paths given (test/interop/test_x.py) choose the tests; otherwise all of test/interop/.
for arg in "$@"; do case $arg in test/*) exec .venv/bin/python -m pytest "$@" ;; esac; done
exec .venv/bin/python -m pytest test/interop "$@"
