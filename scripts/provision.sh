#!/usr/bin/env bash
# Installs what the integration tests and the demo need, from Debian's packages, when missing:
# a real OpenSSH server, Docker engine, git and shellcheck, and a real OCI registry with
# htpasswd and TLS (docker-registry, apache2-utils, openssl), zsh, dash and podman for the test hosts
# like users have them, busybox-static for FROM-scratch images, and the standalone docker-compose
# (v1.29, Debian's only compose) for the staging step. `provision.sh bench` also installs
# skopeo, the registry client the benchmark compares against. Needs root (the CI machine is root).
set -euo pipefail

need=()
command -v /usr/sbin/sshd >/dev/null 2>&1 || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v git >/dev/null 2>&1 || need+=(git)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v flock >/dev/null 2>&1 || need+=(util-linux)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# Hosts like users have them (__tests__/support/login-users.ts, podman-host.ts): other
# login shells, podman as the docker command, and a static busybox to run in FROM-scratch images.
[ -x /bin/dash ] || need+=(dash)
[ -x /usr/bin/zsh ] || need+=(zsh)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v useradd >/dev/null 2>&1 || need+=(passwd)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
if [ "${1:-}" = bench ]; then
  command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
fi

if [ "${#need[@]}" -gt 0 ]; then
  echo "provision: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
mkdir -p /run/sshd
