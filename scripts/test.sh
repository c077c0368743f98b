#!/usr/bin/env bash
# Set up everything and run the whole test suite: lint, types, layering, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
bash scripts/install-deps.sh test
echo "== ruff"; "$PYTHON" -m ruff check cloudctl nodectl storagectl netd tests bench migrations
echo "== mypy"; "$PYTHON" -m mypy cloudctl nodectl storagectl netd
echo "== import layering"; lint-imports
echo "== pytest"
export CLOUDCTL_NO_SKIPS=1
exec "$PYTHON" -m pytest -q -p no:cacheprovider -rfE --durations=30 "$@"
