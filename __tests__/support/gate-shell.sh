#!/bin/sh
# Reference forced command for the gate's ssh user. In that user's authorized_keys:
#   restrict,command="/usr/local/lib/gate-shell" ssh-ed25519 AAAA… gate
# sshd then runs this script (through the user's login shell) whatever the client asked for, and
# puts the request in SSH_ORIGINAL_COMMAND. The gate only ever asks for `sh -s` (its session script
# arrives on stdin), so that is the one request allowed; every request is logged first.
# `restrict` also turns off ~/.ssh/rc, port/agent/X11 forwarding and the pty.
log=${GATE_SHELL_LOG:-"$HOME/gate-shell.log"}
if [ -n "${SSH_ORIGINAL_COMMAND+set}" ]; then
  printf '%s\n' "$SSH_ORIGINAL_COMMAND" >>"$log"
else
  printf '%s\n' '(no command: login shell requested)' >>"$log"
fi
if [ "${SSH_ORIGINAL_COMMAND-}" = 'sh -s' ]; then
  exec sh -s
fi
echo "gate-shell: refused \"${SSH_ORIGINAL_COMMAND-}\": only \"sh -s\" is allowed" >&2
exit 1
