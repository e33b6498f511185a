#!/usr/bin/env bash
# `npm run setup:interop`: creates .venv, the pinned Python environment that test/interop/ (pytest) and
# the bench's Python anchors run in. Rerunning it is cheap: an environment built from the same
# requirements is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.meap-requirements.sha256
want=$(sha256sum interop/requirements.txt | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "meap: .venv is up to date with interop/requirements.txt"
  exit 0
fi
py=${PYTHON:-}
if [ -z "$py" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null; then py=$c; break; fi
  done
fi
[ -n "$py" ] || { echo "meap: error: no python3 on PATH; install Python 3.11 (or set PYTHON) and rerun npm run setup:interop" >&2; exit 2; }
rm -rf .venv
"$py" -m venv .venv
# These machines' pip configuration names local indexes that may be absent; pip's warning for each is noise.
.venv/bin/python -m pip install --disable-pip-version-check -q -r interop/requirements.txt 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
echo "$want" > "$stamp"
echo "meap: .venv created ($(.venv/bin/python --version), torch $(.venv/bin/python -c 'import torch; print(torch.__version__)'))"
