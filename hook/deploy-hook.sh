#!/usr/bin/env bash
# provenance-gate reference host hook. Install it on the staging host; it is the host side of
# the build-once promotion.
#
#   --build-staging  (what provenance-gate runs, with an explicit STAGING target)
#       cd <hook-dir> && GIT_SHA=… BUILD_CONTEXT=… TARGET_IMAGE=… TARGET_SERVICE=… TARGET_PORT=… \
#         COMPOSE_PROFILE=… STAGING_CONTAINER=… bash deploy-hook.sh --build-staging
#     builds TARGET_IMAGE from BUILD_CONTEXT labelled with GIT_SHA, recreates the staging service,
#     waits for health on 127.0.0.1:TARGET_PORT and runs SMOKE_COMMAND.
#
#   --promote  (what the prod job runs after the gate)
#       SOURCE_IMAGE=<image_id or staging ref> PROD_IMAGE=… EXPECTED_REVISION=… bash deploy-hook.sh --promote
#     retags SOURCE_IMAGE to PROD_IMAGE. With EXPECTED_REVISION set it exits 1 before `docker tag`
#     unless the source's revision label equals it; empty keeps the old no-check behaviour.
#
# Settings from the environment (all optional):
#   DOCKER=docker            container CLI (podman works too)
#   REVISION_LABEL=org.opencontainers.image.revision
#   SKIP_COMPOSE=0           1 = build only, do not recreate the service (no compose on the host)
#   HEALTH_TIMEOUT=120       seconds to wait for 127.0.0.1:TARGET_PORT
#   HEALTH_PATH=/            path probed with curl when curl exists (else a TCP connect)
#   SMOKE_COMMAND=           command run with bash -c after the service is healthy
#   LOCK_FILE=/tmp/provenance-gate-deploy.lock, LOCK_WAIT=900   runs are serialized with flock
set -euo pipefail

DOCKER="${DOCKER:-docker}"
REVISION_LABEL="${REVISION_LABEL:-org.opencontainers.image.revision}"
SKIP_COMPOSE="${SKIP_COMPOSE:-0}"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-120}"
HEALTH_PATH="${HEALTH_PATH:-/}"
SMOKE_COMMAND="${SMOKE_COMMAND:-}"
LOCK_FILE="${LOCK_FILE:-/tmp/provenance-gate-deploy.lock}"
LOCK_WAIT="${LOCK_WAIT:-900}"

log() { printf '[deploy-hook] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
require() {
  local name
  for name in "$@"; do
    [ -n "${!name:-}" ] || die "$name is required for $MODE"
  done
}

# One deploy at a time on this host: a promote must never interleave with a rebuild.
lock() {
  exec 9>"$LOCK_FILE"
  flock -w "$LOCK_WAIT" 9 || die "another deploy still holds $LOCK_FILE after ${LOCK_WAIT}s"
}

# Prints "<id> <label>" of an image; empty label when it has none (older docker: "<no value>").
# The `with` guards matter: an image with no labels at all has a null Labels map, and a bare
# `index .Config.Labels …` then fails the whole inspect ("index of untyped nil").
inspect_image() {
  "$DOCKER" image inspect \
    --format "{{.Id}} {{with .Config}}{{with .Labels}}{{index . \"$REVISION_LABEL\"}}{{end}}{{end}}" "$1"
}

wait_healthy() {
  local deadline=$((SECONDS + HEALTH_TIMEOUT))
  log "waiting up to ${HEALTH_TIMEOUT}s for 127.0.0.1:$TARGET_PORT"
  while ((SECONDS < deadline)); do
    if command -v curl >/dev/null 2>&1; then
      curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$TARGET_PORT$HEALTH_PATH" && return 0
    elif (exec 3<>"/dev/tcp/127.0.0.1/$TARGET_PORT") 2>/dev/null; then
      return 0
    fi
    sleep 1
  done
  die "staging did not become healthy on 127.0.0.1:$TARGET_PORT within ${HEALTH_TIMEOUT}s"
}

build_staging() {
  require GIT_SHA TARGET_IMAGE TARGET_SERVICE
  [[ "$GIT_SHA" =~ ^[0-9a-f]{40}([0-9a-f]{24})?$ ]] || die "GIT_SHA is not a full revision: $GIT_SHA"
  local context="${BUILD_CONTEXT:-.}"
  [ -d "$context" ] || die "BUILD_CONTEXT $context is not a directory"

  log "building $TARGET_IMAGE from $context at $GIT_SHA"
  "$DOCKER" build --label "$REVISION_LABEL=$GIT_SHA" --build-arg "GIT_SHA=$GIT_SHA" \
    -t "$TARGET_IMAGE" "$context"

  if [ "$SKIP_COMPOSE" = 1 ]; then
    log "SKIP_COMPOSE=1: not recreating $TARGET_SERVICE"
  else
    local profile=()
    [ -z "${COMPOSE_PROFILE:-}" ] || profile=(--profile "$COMPOSE_PROFILE")
    log "recreating $TARGET_SERVICE (container ${STAGING_CONTAINER:-$TARGET_SERVICE})"
    "$DOCKER" compose "${profile[@]}" up -d --no-build -- "$TARGET_SERVICE"
  fi

  [ -z "${TARGET_PORT:-}" ] || wait_healthy
  if [ -n "$SMOKE_COMMAND" ]; then
    log "smoke: $SMOKE_COMMAND"
    bash -c "$SMOKE_COMMAND"
  fi
  log "staging $TARGET_SERVICE: $TARGET_IMAGE built from $GIT_SHA"
}

promote() {
  require SOURCE_IMAGE PROD_IMAGE
  local inspected id revision
  inspected="$(inspect_image "$SOURCE_IMAGE")" || die "cannot inspect $SOURCE_IMAGE"
  id="${inspected%% *}"
  revision="${inspected#* }"
  revision="$(printf '%s' "$revision" | tr -d '[:space:]')" # a SHA has no spaces; "<no value>" folds too
  [ "$revision" != "<novalue>" ] || revision=""

  if [ -n "${EXPECTED_REVISION:-}" ]; then
    [ -n "$revision" ] || die "provenance fail-closed: $SOURCE_IMAGE has no $REVISION_LABEL label"
    [ "$revision" = "$EXPECTED_REVISION" ] ||
      die "provenance mismatch: image ${revision:0:12} != expected ${EXPECTED_REVISION:0:12}"
    log "provenance match: ${revision:0:12}"
  else
    log "EXPECTED_REVISION is empty: promoting without a provenance check"
  fi
  # Tag by id, not by the mutable source tag, so what was checked is what ships.
  "$DOCKER" tag "$id" "$PROD_IMAGE"
  log "promoted $id to $PROD_IMAGE"
}

MODE="${1:-}"
case "$MODE" in
  --build-staging)
    lock
    build_staging
    ;;
  --promote)
    lock
    promote
    ;;
  *)
    echo "usage: $0 --build-staging | --promote" >&2
    exit 2
    ;;
esac
