#!/usr/bin/env bash
# Kernelspec command for plain hosts: starts gateway-launcher on a remote host
# over SSH. Runs on the Jupyter host with the KERNEL_* environment the host
# got from ResponseListener.register(); the kernel runs on the remote host.
#
#   launch-over-ssh.sh [launcher flags…]      e.g. --kernel-language python
#
# Environment:
#   GATEWAY_SSH_HOSTS              hosts, separated by spaces ([user@]host); the kernel id picks one (required)
#   GATEWAY_SSH_OPTS               extra ssh options from the kernelspec, as shell words (e.g. -i KEY -p 2222)
#   GATEWAY_LAUNCHER_REMOTE        the bundle on the hosts (default /opt/gateway-launcher/gateway-launcher.mjs)
#   GATEWAY_LAUNCHER_REMOTE_NODE   node on the hosts (default: node on the remote PATH)
#   KERNEL_*                       exported on the remote side; KERNEL_LAUNCH_TOKEN goes over ssh's
#                                  standard input, so it is on no command line on either host
#
# The session stays open while the kernel runs: the launcher's logs arrive on
# this process's stderr, and when this ssh process goes away (the host killed
# it, the connection dropped) the remote side sees its standard input close
# and stops the launcher, which stops the kernel. No orphaned kernels.
set -euo pipefail

die() { echo "gateway-launcher ssh/launch-over-ssh.sh: $*" >&2; exit 1; }

read -r -a hosts <<< "${GATEWAY_SSH_HOSTS:-}"
[ ${#hosts[@]} -gt 0 ] || die "GATEWAY_SSH_HOSTS names no host"
# A stable choice per kernel id spreads kernels over the hosts.
sum=$(printf '%s' "${KERNEL_ID:-}" | cksum | cut -d' ' -f1)
host="${hosts[$((sum % ${#hosts[@]}))]}"

# POSIX shell quoting for the remote command line.
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

remote="set -u;"
while IFS= read -r name; do
  [ "$name" = KERNEL_LAUNCH_TOKEN ] && continue
  remote+=" export $name=$(q "${!name}");"
done < <(compgen -e | grep '^KERNEL_' || true)
if [ -n "${KERNEL_LAUNCH_TOKEN:-}" ]; then
  remote+=" IFS= read -r KERNEL_LAUNCH_TOKEN; export KERNEL_LAUNCH_TOKEN;"
fi
cmd="$(q "${GATEWAY_LAUNCHER_REMOTE_NODE:-node}") $(q "${GATEWAY_LAUNCHER_REMOTE:-/opt/gateway-launcher/gateway-launcher.mjs}")"
for arg in "$@"; do cmd+=" $(q "$arg")"; done
# The launcher runs in the background so the shell can watch standard input:
# end of input means the Jupyter host's side of the session is gone.
# (A background job's standard input is /dev/null, so the session's input is kept on fd 3.)
remote+=" exec 3<&0; $cmd 3<&- & pid=\$!;"
remote+=" (cat <&3 >/dev/null 2>&1; kill -TERM \$pid 2>/dev/null) >/dev/null 2>&1 & watcher=\$!; exec 3<&-;"
remote+=" wait \$pid; status=\$?; kill \$watcher 2>/dev/null; exit \$status"

ssh_opts=()
eval "ssh_opts=(${GATEWAY_SSH_OPTS:-})"

# Standard input of ssh: the token, then nothing until ssh itself has exited.
feed() {
  [ -n "${KERNEL_LAUNCH_TOKEN:-}" ] && printf '%s\n' "$KERNEL_LAUNCH_TOKEN"
  while kill -0 "$1" 2>/dev/null; do sleep 1; done
}
exec ssh -T -o BatchMode=yes "${ssh_opts[@]}" "$host" "$remote" < <(feed $$)
