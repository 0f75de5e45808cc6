#!/usr/bin/env bash
# Cuts a release: scripts/release.sh X.Y.Z (or npm run release -- X.Y.Z).
#
# Refuses a dirty work tree, a version that is not X.Y.Z, a tag that already exists, and a dist/
# that is not what the sources build to. Then sets the version in package.json, commits it,
# creates the annotated tag vX.Y.Z and moves the major tag (v1 for 1.y.z) to it. It never pushes:
# it prints the push command instead.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "release: $*" >&2
  exit 1
}

[ $# -eq 1 ] || die "usage: scripts/release.sh X.Y.Z (e.g. npm run release -- 1.2.0)"
version=${1#v}
[[ $version =~ ^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$ ]] ||
  die "version must be X.Y.Z (semver, no pre-release or build suffix), got '$1'"
major=${BASH_REMATCH[1]}
tag="v$version"
major_tag="v$major"

git rev-parse --is-inside-work-tree >/dev/null 2>&1 || die "not a git work tree"
[ -z "$(git status --porcelain)" ] || {
  git status --short >&2
  die "the work tree is dirty: commit or stash first"
}
branch=$(git symbolic-ref --quiet --short HEAD) || die "HEAD is detached: check out the release branch"
! git rev-parse --quiet --verify "refs/tags/$tag" >/dev/null || die "tag $tag already exists"
current=$(node -p 'require("./package.json").version')
[ "$current" != "$version" ] || die "package.json is already at $version"

echo "release: rebuilding dist/ to check it is fresh"
npm run -s build >/dev/null || die "npm run build failed"
if ! git diff --exit-code --stat -- dist; then
  git checkout -- dist
  die "dist/ is stale: run npm run build, commit dist/, then release"
fi
[ -z "$(git status --porcelain -- dist)" ] || {
  git status --short -- dist >&2
  git clean -fdq -- dist
  die "the build left new files in dist/: commit them, then release"
}

npm version "$version" --no-git-tag-version >/dev/null
git add package.json
[ ! -f package-lock.json ] || git add package-lock.json
git commit -q -m "Release $tag"
git tag -a "$tag" -m "provenance-gate $tag"
git tag -fa "$major_tag" -m "provenance-gate $major_tag (moved to $tag)" >/dev/null

echo "release: $tag created on $branch ($(git rev-parse --short HEAD)); $major_tag moved to it."
echo "release: push with:"
echo "  git push origin $branch $tag && git push -f origin $major_tag"
