#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo use, when missing:
# the real ipykernel and jupyter_client (for /usr/bin/python3), pycryptodome
# and PyNaCl (independent implementations for cross-language test vectors),
# iproute2 and nftables (cross-host tests in network namespaces), R with
# IRkernel (the r preset and the YARN R recipe) and openssh-server (the SSH
# recipe runs a throwaway sshd on 127.0.0.1), and podman with runc, uidmap,
# slirp4netns, fuse-overlayfs, debootstrap and Debian's archive keyring (the
# container recipe's test builds and runs the kernel image for real).
set -euo pipefail

packages=(python3-ipykernel python3-jupyter-client python3-pycryptodome python3-nacl iproute2 nftables r-base-core r-cran-irkernel openssh-server podman runc uidmap slirp4netns fuse-overlayfs debootstrap debian-archive-keyring)
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
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
