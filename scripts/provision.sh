#!/usr/bin/env bash
# Installs what the integration tests and the demo need, from Debian's packages, when missing:
# a real OpenSSH server, Docker engine, git and shellcheck, and a real OCI registry with
# htpasswd and TLS (docker-registry, apache2-utils, openssl). `provision.sh bench` also installs
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
