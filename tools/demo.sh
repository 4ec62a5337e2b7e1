#!/usr/bin/env bash
# The README demo: generate demo data, train a config on CPU, evaluate the last checkpoint.
# Usage: bash tools/demo.sh [CONFIG] (default: the baseline on demo Market-1501)
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-configs/demo/baseline_market1501_demo.py}
NAME=$(basename "$CONFIG" .py)
WORK_DIR=${WORK_DIR:-work_dirs/$NAME}
python tools/make_demo_data.py data/demo
python tools/train.py "$CONFIG" --work-dir "$WORK_DIR"
CKPT=$(cat "$WORK_DIR/last_checkpoint")
python tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/test" --out "$WORK_DIR/test_metrics.json"
echo "Demo metrics of $CONFIG (checkpoint $CKPT):"
python - "$WORK_DIR/test_metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
rows = {}  # one row, or one per test set and their mean (metrics '<set>/R1', ...)
for key, value in m.items():
    name, _, metric = key.rpartition('/')
    if metric in ('R1', 'R5', 'R10', 'R20', 'mAP', 'mINP'):  # --out also holds the paper and model selection
        rows.setdefault(name, {})[metric] = value
keys = [k for k in ('R1', 'R5', 'R10', 'R20', 'mAP', 'mINP') if any(k in r for r in rows.values())]
first = ['test set'] if len(rows) > 1 else []
print('| ' + ' | '.join(first + keys) + ' |')
print('|' + '---|' * (len(first) + len(keys)))
for name, r in rows.items():
    print('| ' + ' | '.join(([name] if first else []) + [f'{r[k]:.2f}' if k in r else '-' for k in keys]) + ' |')
PY
