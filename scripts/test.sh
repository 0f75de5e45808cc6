#!/usr/bin/env bash
# The test command (`npm test`): installs and starts what the tests need, runs every unit and
# integration test against the committed bundle, and ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/provision.sh || exit 1
# The runner runs actions on node24: the integration tests run the bundle on it when it can be had.
export PROVENANCE_GATE_NODE="${PROVENANCE_GATE_NODE:-$(bash scripts/node24.sh)}"
echo "bundle runs on: $("$PROVENANCE_GATE_NODE" --version) ($PROVENANCE_GATE_NODE)"
mkdir -p .tmp
results=.tmp/jest-results.json
rm -f "$results"
node --experimental-vm-modules node_modules/jest/bin/jest.js --ci --json --outputFile="$results" "$@"
status=$?
[ -s "$results" ] || { echo "0 passed, 1 failed"; exit 1; }
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))
console.log(`${r.numPassedTests} passed, ${r.numFailedTests + r.numRuntimeErrorTestSuites} failed`)
' "$results" || { echo "0 passed, 1 failed"; exit 1; }
exit "$status"
