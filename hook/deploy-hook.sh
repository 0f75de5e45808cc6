#!/usr/bin/env bash
# provenance-gate reference host hook. Install it on the staging host; it is the host side of
# the build-once promotion.
#
#   --build-staging  (what provenance-gate runs, with an explicit STAGING target)
#       cd <hook-dir> && GIT_SHA=… BUILD_CONTEXT=… TARGET_IMAGE=… TARGET_SERVICE=… TARGET_PORT=… \
#         COMPOSE_PROFILE=… STAGING_CONTAINER=… [BUILD_CONTEXT_SOURCE=git-archive] [SYNC_CONTEXT=1] \
#         bash deploy-hook.sh --build-staging
#     builds TARGET_IMAGE from BUILD_CONTEXT, recreates the staging service with
#     `<compose> [--profile COMPOSE_PROFILE] up -d --no-build -- TARGET_SERVICE` (see "Compose"
#     below), checks that the service's running containers run the image id just built, waits for
#     health on 127.0.0.1:TARGET_PORT and runs SMOKE_COMMAND. The image is labelled with a
#     revision only when the hook can vouch that BUILD_CONTEXT holds exactly that commit;
#     otherwise it exits 1 before any `docker build` (a label is a claim about the files, so it is
#     never stamped on faith):
#
#     * BUILD_CONTEXT inside a git work tree (a `.git` in it or an ancestor, confirmed by git):
#       its HEAD must equal GIT_SHA exactly and `git status --porcelain --untracked-files=all -- .`
#       run in BUILD_CONTEXT must print nothing: no modified or staged tracked file and no untracked
#       file that is not ignored. Only the context path counts (BUILD_CONTEXT may be the top of the
#       work tree or a subdirectory; files outside it are not sent to the builder, so they cannot
#       reach the image), but HEAD is the whole repository's. Ignored files are allowed and ARE
#       sent to the builder: keep what must not reach the image out with .dockerignore. Tracked
#       files marked assume-unchanged or skip-worktree (sparse checkout) are refused, since git
#       status does not look at them; so is a context holding no tracked file at all (e.g. an
#       ignored build directory). The label is `git rev-parse HEAD` of the context actually built,
#       and the same check runs again after the build: if the tree moved or changed meanwhile, the
#       new image is not tagged TARGET_IMAGE.
#     * SYNC_CONTEXT=1 (gate input `sync-context: true`; BUILD_CONTEXT must be in a git clone):
#       under the lock, `git fetch origin GIT_SHA` (a plain `git fetch origin` when that fails,
#       e.g. a server that refuses a fetch by id), exit 1 unless GIT_SHA is then a commit in the
#       clone, `git checkout --detach --force GIT_SHA` and `git clean -ffd -- .` in BUILD_CONTEXT,
#       then the rule above. The clean removes untracked files that are not ignored and keeps
#       ignored ones (caches, node_modules), matching the rule; it leaves the clone on a detached
#       HEAD. Local changes to tracked files are discarded.
#     * BUILD_CONTEXT not in a git work tree: built only with BUILD_CONTEXT_SOURCE=git-archive,
#       which the gate sets when it uploaded `git archive GIT_SHA` there itself (`upload-context:
#       true`); the label is then GIT_SHA. An uploaded archive must not sit inside a git work tree,
#       and SYNC_CONTEXT=1 with it is refused (the two say different things about the context).
#
#     git runs with every GIT_* variable of the caller's environment removed (GIT_DIR,
#     GIT_WORK_TREE, GIT_INDEX_FILE… would make it look at another repository), with
#     safe.directory set to the context's work tree (a clone owned by another user is read, not
#     misreported; its configuration is trusted like the host's own clone), with hooks and
#     fsmonitor off and without optional index writes. Configure fetch credentials in the clone
#     (core.sshCommand, a credential helper), not through GIT_SSH_COMMAND. The host needs git
#     when BUILD_CONTEXT is in a clone (a .git in sight without git installed exits 1).
#
#   --promote  (what the prod job runs after the gate)
#       SOURCE_IMAGE=<image_id or staging ref> PROD_IMAGE=… EXPECTED_REVISION=… bash deploy-hook.sh --promote
#     retags SOURCE_IMAGE to PROD_IMAGE by image id. With EXPECTED_REVISION set (a full 40 or 64 hex
#     revision) it exits 1 before `docker tag` unless the source's revision label equals it byte for
#     byte (read as JSON, so " <sha>", "<sha>\n" or "<sha> x" do not match); a missing or empty
#     label fails closed. Empty EXPECTED_REVISION keeps the old no-check behaviour.
#
#   Compose (unless SKIP_COMPOSE=1). Which compose runs, decided before anything is built:
#     COMPOSE=auto (default): `$DOCKER compose` when `$DOCKER compose version` succeeds, else the
#       standalone `docker-compose` (v1.29 is what Debian/Ubuntu package; it takes --profile
#       before `up` like v2) when $DOCKER says it has no compose command, else exit 1 naming both.
#       With DOCKER=podman: `podman compose`, else `podman-compose`, else exit 1 naming both.
#       A plugin that exists but fails `version` is still used (its own error is the one to see).
#     COMPOSE=plugin | standalone | <program or path>: forces one.
#     Compose runs in the hook's working directory (the gate's hook-dir), or in
#     COMPOSE_PROJECT_DIR when set; compose itself reads COMPOSE_FILE, COMPOSE_PROJECT_NAME and
#     the directory's .env. The service's `image:` must be TARGET_IMAGE (e.g.
#     `image: ${TARGET_IMAGE}`, which compose fills from this hook's environment), so that
#     --no-build recreates it on the fresh image.
#     After `up`, every running container labelled com.docker.compose.service=TARGET_SERVICE (else
#     the container named STAGING_CONTAINER) must run the image id just built; one on another
#     image exits 1 (compose did not recreate it). No running container at all exits 1 when
#     TARGET_PORT is set, and is only logged when it is not (a one-shot service).
#     SMOKE_COMMAND gets TARGET_PORT, TARGET_SERVICE and STAGING_CONTAINER in its environment.
#
# Settings from the environment (all optional):
#   DOCKER=docker            container CLI; podman works too (the inspect template uses .ID)
#   COMPOSE=auto, COMPOSE_PROJECT_DIR=   see "Compose" above
#   REVISION_LABEL=org.opencontainers.image.revision   letters, digits, . _ - / only
#   BUILD_CONTEXT=.          see above; BUILD_CONTEXT_SOURCE= (empty or git-archive), SYNC_CONTEXT=0
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
COMPOSE="${COMPOSE:-auto}"
COMPOSE_PROJECT_DIR="${COMPOSE_PROJECT_DIR:-}"
LOCK_FILE="${LOCK_FILE:-/tmp/provenance-gate-deploy.lock}"
LOCK_WAIT="${LOCK_WAIT:-900}"
BUILD_CONTEXT_SOURCE="${BUILD_CONTEXT_SOURCE:-}"
SYNC_CONTEXT="${SYNC_CONTEXT:-0}"
REVISION_PATTERN='^[0-9a-f]{40}([0-9a-f]{24})?$'

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

# The label name goes into a Go template: keep it to characters that cannot end the string.
[[ "$REVISION_LABEL" =~ ^[A-Za-z0-9._/-]+$ ]] ||
  die "REVISION_LABEL may hold only letters, digits and . _ - /: $REVISION_LABEL"

# Scratch files of this run (git's stderr, the built image id), removed on every exit.
WORK=""
cleanup() { [ -z "$WORK" ] || rm -rf -- "$WORK"; }
trap cleanup EXIT

# ---- git, about the build context only ------------------------------------------------------

CONTEXT=""     # BUILD_CONTEXT as given (for messages)
CONTEXT_DIR="" # its physical path (what is checked and built)
CONTEXT_TOP="" # the physical top of its work tree, empty when it is not in one
REVISION=""    # what the image is labelled with
GIT_UNSET=()   # `env -u NAME` for every GIT_* variable we were given

collect_git_env() {
  local name
  while IFS= read -r name; do
    if [[ "$name" == GIT_* ]]; then GIT_UNSET+=(-u "$name"); fi
  done < <(compgen -e)
}

# git in the context, blind to the caller's GIT_* variables. stderr goes to $WORK/git.err.
ctx_git() {
  env "${GIT_UNSET[@]}" git --no-optional-locks -c safe.directory="$CONTEXT_TOP" \
    -c core.hooksPath=/dev/null -c core.fsmonitor=false -C "$CONTEXT_DIR" "$@" 2>"$WORK/git.err"
}

git_error() { head -n 1 "$WORK/git.err" 2>/dev/null || true; }

# The nearest directory at or above $1 holding a .git entry (directory or gitfile).
work_tree_top() {
  local dir="$1"
  while :; do
    if [ -e "$dir/.git" ]; then
      printf '%s\n' "$dir"
      return 0
    fi
    [ "$dir" != / ] || return 1
    dir="$(dirname -- "$dir")"
  done
}

# Sets CONTEXT_TOP and returns 0 when the context is in a git work tree that git can read;
# returns 1 when no .git is in sight; dies when there is one that git cannot confirm.
find_work_tree() {
  CONTEXT_TOP="$(work_tree_top "$CONTEXT_DIR")" || return 1
  command -v git >/dev/null 2>&1 ||
    die "BUILD_CONTEXT $CONTEXT is in a git work tree ($CONTEXT_TOP) but git is not installed"
  local inside top
  if ! inside="$(ctx_git rev-parse --is-inside-work-tree)"; then
    if grep -q 'dubious ownership' "$WORK/git.err"; then
      die "git refuses to read $CONTEXT_TOP (BUILD_CONTEXT $CONTEXT): it is owned by another user and safe.directory=$CONTEXT_TOP was not accepted: $(git_error)"
    fi
    die "git cannot read BUILD_CONTEXT $CONTEXT (work tree $CONTEXT_TOP): $(git_error)"
  fi
  [ "$inside" = true ] ||
    die "BUILD_CONTEXT $CONTEXT is inside $CONTEXT_TOP but not in its work tree (a .git directory?)"
  top="$(ctx_git rev-parse --show-toplevel)" || die "git cannot find the top of $CONTEXT_TOP: $(git_error)"
  [ "$top" = "$CONTEXT_TOP" ] ||
    die "BUILD_CONTEXT $CONTEXT: git says its work tree is $top, not $CONTEXT_TOP where .git is"
  return 0
}

# Sets REVISION to HEAD after checking that the context holds exactly GIT_SHA's files (see the
# header).
checked_head() {
  local head status hidden lines
  head="$(ctx_git rev-parse --verify --quiet 'HEAD^{commit}')" ||
    die "BUILD_CONTEXT $CONTEXT (git work tree $CONTEXT_TOP) has no commit checked out"
  if [ "$head" != "$GIT_SHA" ]; then
    die "BUILD_CONTEXT $CONTEXT is a git work tree at HEAD ${head:0:12}, not GIT_SHA $GIT_SHA: refusing to build it (check out GIT_SHA there, or set SYNC_CONTEXT=1 / sync-context: true so the hook does)"
  fi
  status="$(ctx_git status --porcelain --untracked-files=all --ignore-submodules=none -- .)" ||
    die "git status failed in BUILD_CONTEXT $CONTEXT: $(git_error)"
  if [ -n "$status" ]; then
    mapfile -t lines <<<"$status"
    die "BUILD_CONTEXT $CONTEXT at ${head:0:12} is not clean, refusing to build it: dirty: ${#lines[@]} files (first: ${lines[0]:3})"
  fi
  # ls-files -v tags a plain tracked file "H"; lower case is assume-unchanged, "S" skip-worktree.
  status="$(ctx_git ls-files -v -- .)" || die "git ls-files failed in BUILD_CONTEXT $CONTEXT: $(git_error)"
  [ -n "$status" ] ||
    die "BUILD_CONTEXT $CONTEXT holds no file tracked at ${head:0:12} (an ignored directory?): refusing to build it"
  hidden="$(printf '%s\n' "$status" | grep -v '^H ' || true)"
  if [ -n "$hidden" ]; then
    mapfile -t lines <<<"$hidden"
    die "BUILD_CONTEXT $CONTEXT: ${#lines[@]} tracked files are marked assume-unchanged or skip-worktree, so git status cannot vouch for them (first: ${lines[0]:2})"
  fi
  REVISION="$head"
}

# SYNC_CONTEXT=1: moves the clone to GIT_SHA (called under the lock).
sync_context() {
  local origin
  log "SYNC_CONTEXT=1: moving $CONTEXT (work tree $CONTEXT_TOP) to $GIT_SHA"
  origin="$(ctx_git remote get-url origin)" ||
    die "SYNC_CONTEXT=1: the clone $CONTEXT_TOP has no remote named origin: $(git_error)"
  if ! ctx_git fetch --quiet origin "$GIT_SHA"; then
    log "fetching $GIT_SHA by id failed ($(git_error)); fetching origin's branches instead"
    ctx_git fetch --quiet origin || die "SYNC_CONTEXT=1: git fetch origin ($origin) failed: $(git_error)"
  fi
  ctx_git cat-file -e "$GIT_SHA^{commit}" ||
    die "SYNC_CONTEXT=1: origin ($origin) has no commit $GIT_SHA: push it first (or check the clone's remote)"
  ctx_git checkout --quiet --detach --force "$GIT_SHA" ||
    die "SYNC_CONTEXT=1: git checkout $GIT_SHA failed in $CONTEXT_TOP: $(git_error)"
  ctx_git clean -ffdq -- . || die "SYNC_CONTEXT=1: git clean failed in $CONTEXT: $(git_error)"
}

# Sets REVISION, the revision the image may be labelled with, or dies before anything is built.
context_revision() {
  case "$BUILD_CONTEXT_SOURCE" in
    '' | git-archive) ;;
    *) die "BUILD_CONTEXT_SOURCE=$BUILD_CONTEXT_SOURCE is not known (empty or git-archive)" ;;
  esac
  case "$SYNC_CONTEXT" in
    '' | 0 | 1) ;;
    *) die "SYNC_CONTEXT=$SYNC_CONTEXT is not 0 or 1" ;;
  esac
  if find_work_tree; then
    [ "$BUILD_CONTEXT_SOURCE" != git-archive ] ||
      die "BUILD_CONTEXT_SOURCE=git-archive but BUILD_CONTEXT $CONTEXT is inside the git work tree $CONTEXT_TOP: upload the archive to a directory outside any clone"
    [ "$SYNC_CONTEXT" != 1 ] || sync_context
    checked_head
    return 0
  fi
  CONTEXT_TOP=""
  [ "$SYNC_CONTEXT" != 1 ] ||
    die "SYNC_CONTEXT=1 needs BUILD_CONTEXT to be a git clone, and $CONTEXT is not in a git work tree"
  [ "$BUILD_CONTEXT_SOURCE" = git-archive ] ||
    die "BUILD_CONTEXT $CONTEXT is not a git work tree, so nothing says which commit it holds: refusing to label it $GIT_SHA. Let the gate upload the commit (upload-context: true sets BUILD_CONTEXT_SOURCE=git-archive), or point BUILD_CONTEXT at a git clone on this host and let the hook move it to GIT_SHA (sync-context: true / SYNC_CONTEXT=1)"
  REVISION="$GIT_SHA"
}

# ---- the two modes --------------------------------------------------------------------------

# Prints `"<id>" "<label>"` as JSON strings (the label part is empty when the image has no
# labels at all). JSON keeps every byte of the label visible. The `with` guards matter: a null
# Labels map makes a bare `index` fail ("index of untyped nil"). `.ID` is the Go field name in
# both docker's and podman's inspect structs; docker's JSON key `.Id` fails on podman.
inspect_image() {
  "$DOCKER" image inspect --format \
    "{{json .ID}} {{with .Config}}{{with .Labels}}{{json (index . \"$REVISION_LABEL\")}}{{end}}{{end}}" "$1"
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

# ---- compose: recreating the staging service ------------------------------------------------

COMPOSE_CMD=() # the compose command line, without the subcommand

# The first line of a failed command's output, for messages.
first_line() { printf '%s\n' "$1" | head -n 1; }

# Sets COMPOSE_CMD (see COMPOSE in the header), or dies naming what is missing. Called before the
# build, so a host without compose fails without building anything.
find_compose() {
  local standalone=docker-compose out
  case "$("$DOCKER" --version 2>/dev/null || true)" in
    podman*) standalone=podman-compose ;;
  esac
  case "$COMPOSE" in
    plugin) COMPOSE_CMD=("$DOCKER" compose) ;;
    standalone)
      command -v "$standalone" >/dev/null 2>&1 ||
        die "COMPOSE=standalone but $standalone is not installed on this host"
      COMPOSE_CMD=("$standalone")
      ;;
    auto | '')
      if out="$("$DOCKER" compose version 2>&1)"; then
        COMPOSE_CMD=("$DOCKER" compose)
      elif [[ "$out" =~ unknown\ command|is\ not\ a\ docker\ command|unrecognized\ command|command\ not\ found ]]; then
        # Only a plugin that is not there falls back: a broken one is still the host's compose,
        # and its own error is the one to show.
        if ! command -v "$standalone" >/dev/null 2>&1; then
          log "\`$DOCKER compose version\`: $(first_line "$out"); \`$standalone\` is not on PATH ($PATH)"
          log "install one (Debian/Ubuntu: apt-get install $standalone), point COMPOSE at one, or set SKIP_COMPOSE=1 to build without recreating $TARGET_SERVICE"
          die "no compose on this host: neither \`$DOCKER compose\` (plugin) nor \`$standalone\` (standalone) is installed"
        fi
        COMPOSE_CMD=("$standalone")
      else
        log "\`$DOCKER compose version\` failed ($(first_line "$out")); using it all the same"
        COMPOSE_CMD=("$DOCKER" compose)
      fi
      ;;
    */*)
      if [ ! -f "$COMPOSE" ] || [ ! -x "$COMPOSE" ]; then
        die "COMPOSE=$COMPOSE is not an executable file"
      fi
      COMPOSE_CMD=("$COMPOSE")
      ;;
    *)
      command -v "$COMPOSE" >/dev/null 2>&1 ||
        die "COMPOSE=$COMPOSE is neither plugin, standalone, auto nor a program on PATH"
      COMPOSE_CMD=("$COMPOSE")
      ;;
  esac
  if [ -n "$COMPOSE_PROJECT_DIR" ] && [ ! -d "$COMPOSE_PROJECT_DIR" ]; then
    die "COMPOSE_PROJECT_DIR $COMPOSE_PROJECT_DIR is not a directory"
  fi
  log "compose: ${COMPOSE_CMD[*]}"
}

# After `up`: every running container of the service must run the image just built ($1), so a
# project whose service does not use TARGET_IMAGE, or that kept the old container, fails here.
# The containers are the service's by label (compose v1 names them <project>_<service>_1, v2
# <project>-<service>-1), else the one named STAGING_CONTAINER. None running is an error when
# TARGET_PORT says something must answer; else (a one-shot service) it is only logged.
check_recreated() {
  local want="${1#sha256:}" listed ids=() states="" name image running found=0 target
  target="${STAGING_CONTAINER:-$TARGET_SERVICE}"
  listed="$("$DOCKER" ps -a -q --no-trunc --filter "label=com.docker.compose.service=$TARGET_SERVICE")" ||
    die "cannot list the containers of $TARGET_SERVICE"
  [ -z "$listed" ] || mapfile -t ids <<<"$listed"
  if [ "${#ids[@]}" -eq 0 ] && "$DOCKER" container inspect -- "$target" >/dev/null 2>&1; then
    ids=("$target")
  fi
  if [ "${#ids[@]}" -gt 0 ]; then
    states="$("$DOCKER" container inspect --format '{{.Name}} {{.Image}} {{.State.Running}}' -- "${ids[@]}")" ||
      die "cannot inspect the containers of $TARGET_SERVICE"
  fi
  while read -r name image running; do
    [ "${running:-}" = true ] || continue
    found=$((found + 1))
    name="${name#/}"
    image="${image#sha256:}"
    [ "$image" != "$want" ] || continue
    log "the service's image: must be TARGET_IMAGE (e.g. image: \${TARGET_IMAGE}) in the project compose runs here"
    if [ "${image:0:12}" = "${want:0:12}" ]; then
      die "compose did not recreate the staging container $name: it runs image $image, not $want just built as $TARGET_IMAGE"
    fi
    die "compose did not recreate the staging container $name: it runs image ${image:0:12}, not ${want:0:12} just built as $TARGET_IMAGE"
  done <<<"$states"
  if [ "$found" -eq 0 ]; then
    [ -z "${TARGET_PORT:-}" ] ||
      die "no container of $TARGET_SERVICE is running after compose up (label com.docker.compose.service=$TARGET_SERVICE, or named $target): see its logs"
    log "no container of $TARGET_SERVICE is running after compose up (a one-shot service?): its image was not checked"
    return 0
  fi
  log "$found running container(s) of $TARGET_SERVICE on ${want:0:12}"
}

build_staging() {
  require GIT_SHA TARGET_IMAGE TARGET_SERVICE
  [[ "$GIT_SHA" =~ $REVISION_PATTERN ]] || die "GIT_SHA is not a full revision: $GIT_SHA"
  CONTEXT="${BUILD_CONTEXT:-.}"
  [ -d "$CONTEXT" ] || die "BUILD_CONTEXT $CONTEXT is not a directory"
  CONTEXT_DIR="$(cd -- "$CONTEXT" && pwd -P)" || die "cannot enter BUILD_CONTEXT $CONTEXT"
  WORK="$(mktemp -d)"
  collect_git_env

  context_revision
  [ "$SKIP_COMPOSE" = 1 ] || find_compose
  local id
  log "building $TARGET_IMAGE from $CONTEXT at $REVISION"
  "$DOCKER" build --iidfile "$WORK/iid" --label "$REVISION_LABEL=$REVISION" \
    --build-arg "GIT_SHA=$REVISION" "$CONTEXT_DIR"
  id="$(cat "$WORK/iid")"
  [ -n "$id" ] || die "$DOCKER build wrote no image id"
  # The work tree may have changed while the builder read it: tag only what still matches.
  if [ -n "$CONTEXT_TOP" ] && ! (checked_head); then
    "$DOCKER" image rm "$id" >/dev/null 2>&1 || true
    die "BUILD_CONTEXT $CONTEXT changed during the build: $TARGET_IMAGE was not tagged"
  fi
  "$DOCKER" tag "$id" "$TARGET_IMAGE"

  if [ "$SKIP_COMPOSE" = 1 ]; then
    log "SKIP_COMPOSE=1: not recreating $TARGET_SERVICE"
  else
    local profile=()
    [ -z "${COMPOSE_PROFILE:-}" ] || profile=(--profile "$COMPOSE_PROFILE")
    log "recreating service $TARGET_SERVICE with ${COMPOSE_CMD[*]}${COMPOSE_PROJECT_DIR:+ in $COMPOSE_PROJECT_DIR}"
    (
      [ -z "$COMPOSE_PROJECT_DIR" ] || cd -- "$COMPOSE_PROJECT_DIR"
      "${COMPOSE_CMD[@]}" "${profile[@]}" up -d --no-build -- "$TARGET_SERVICE"
    )
    check_recreated "$id"
  fi

  [ -z "${TARGET_PORT:-}" ] || wait_healthy
  if [ -n "$SMOKE_COMMAND" ]; then
    log "smoke: $SMOKE_COMMAND"
    export TARGET_SERVICE TARGET_PORT="${TARGET_PORT:-}"
    export STAGING_CONTAINER="${STAGING_CONTAINER:-$TARGET_SERVICE}"
    bash -c "$SMOKE_COMMAND"
  fi
  log "staging $TARGET_SERVICE: $TARGET_IMAGE built from $REVISION"
}

promote() {
  require SOURCE_IMAGE PROD_IMAGE
  local expected="${EXPECTED_REVISION:-}"
  if [ -n "$expected" ]; then
    # A revision has no character JSON escapes, so its JSON form is just the quoted value.
    [[ "$expected" =~ $REVISION_PATTERN ]] ||
      die "EXPECTED_REVISION is not a full revision (40 or 64 lower-case hex): $expected"
  fi
  local inspected id label
  inspected="$(inspect_image "$SOURCE_IMAGE")" || die "cannot inspect $SOURCE_IMAGE"
  id="${inspected%% *}"
  label="${inspected#"$id"}"
  label="${label# }"
  id="${id#\"}"
  id="${id%\"}"
  [[ "$id" =~ ^(sha256:)?[0-9a-f]{64}$ ]] || die "$DOCKER reported no image id for $SOURCE_IMAGE: $inspected"
  case "$label" in
    '' | '""' | null | '"<no value>"') label="" ;;
  esac

  if [ -n "$expected" ]; then
    [ -n "$label" ] || die "provenance fail-closed: $SOURCE_IMAGE has no $REVISION_LABEL label"
    if [ "$label" != "\"$expected\"" ]; then
      local value="${label#\"}"
      value="${value%\"}"
      if [[ "$value" =~ $REVISION_PATTERN ]] && [ "${value:0:12}" != "${expected:0:12}" ]; then
        die "provenance mismatch: image ${value:0:12} != expected ${expected:0:12}"
      fi
      # Not a plain revision, or the short forms agree: show both whole (the label as JSON).
      die "provenance mismatch: image label ${label:0:200} != expected \"$expected\""
    fi
    log "provenance match: ${expected:0:12}"
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
