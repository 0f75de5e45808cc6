#!/usr/bin/env bash
# Prints the path of a node 24 binary (GitHub's action runtime), fetched from the npm registry
# into npm's cache on first use. Falls back to the current node, with a warning, when offline.
set -uo pipefail
if bin=$(npx -y node@24 -e 'process.stdout.write(process.execPath)' 2>/dev/null) && [ -x "$bin" ]; then
  printf '%s\n' "$bin"
else
  echo "warning: node 24 could not be fetched; running the bundle on $(node --version)" >&2
  command -v node
fi
