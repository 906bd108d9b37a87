#!/usr/bin/env bash
# Installs the Debian packages a profile needs, when missing.
#
#   tools/install-system-deps.sh [demo|test]     (default: test)
#
#   demo  what `npm run demo` runs: the real ipykernel and jupyter_client for
#         /usr/bin/python3. Nothing else, so a fresh machine's demo is quick.
#   test  everything `npm test` and the deployment tests use: the demo's
#         packages; pycryptodome and PyNaCl (independent implementations for
#         cross-language test vectors); iproute2 and nftables (cross-host tests
#         in network namespaces); R with IRkernel (the r preset and the YARN R
#         recipe); a headless OpenJDK 17 (the Toree-style JVM kernel of the
#         SIGKILL tests); openssh-server (the SSH recipe runs a throwaway sshd on
#         127.0.0.1); jupyter-server, pytest, jupyter-kernel-test, venv and pip
#         (kernelspec and conformance tests); podman, runc, debootstrap, uidmap,
#         slirp4netns, fuse-overlayfs and Debian's archive keyring (the
#         container test builds and runs a real image).
set -euo pipefail

profile="${1:-test}"
demo=(python3-ipykernel python3-jupyter-client)
case "$profile" in
  demo) packages=("${demo[@]}") ;;
  test)
    packages=("${demo[@]}" python3-pycryptodome python3-nacl iproute2 nftables r-base-core r-cran-irkernel openjdk-17-jdk-headless openssh-server
      python3-jupyter-server python3-pytest python3-jupyter-kernel-test python3-venv python3-pip
      podman runc debootstrap uidmap slirp4netns fuse-overlayfs debian-archive-keyring)
    ;;
  *)
    echo "usage: $0 [demo|test]" >&2
    exit 2
    ;;
esac
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages ($profile): ${missing[*]}" >&2
  echo "run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages ($profile): ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
