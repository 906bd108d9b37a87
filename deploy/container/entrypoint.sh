#!/bin/sh
# Entrypoint of a kernel container image (Kubernetes pod, Docker container):
# runs gateway-launcher with the kernel's parameters from the environment,
# as a pod receives them (see kernel-pod.yaml and docs/deploy-container.md).
#
#   KERNEL_ID, KERNEL_RESPONSE_ADDRESS, KERNEL_PUBLIC_KEY, KERNEL_PORT_RANGE,
#   KERNEL_LAUNCH_TOKEN (from a Secret), KERNEL_SPARK_CONTEXT_INIT_MODE,
#   KERNEL_CLUSTER_TYPE, KERNEL_CLASS_NAME, … read by the launcher itself (every
#                                            flag has a variable; choices in any case)
#   KERNEL_LANGUAGE                          python (the default here), r or scala; any case
#   RESPONSE_ADDRESS, PUBLIC_KEY, PORT_RANGE the names Gateway Provisioners'
#                                            container provisioners set, and
#   EG_RESPONSE_ADDRESS, EG_PUBLIC_KEY,      Enterprise Gateway's, as GP's
#   EG_PORT_RANGE                            bootstrap-kernel.sh falls back to them
#   GATEWAY_LAUNCHER                         the bundle (default /opt/gateway-launcher/gateway-launcher.mjs)
#   GATEWAY_LAUNCHER_NODE                    node binary (default: node on PATH)
#
# Arguments given to the container are passed on to the launcher unchanged. Node is exec'ed: the launcher receives the
# container runtime's SIGTERM directly and stops the kernel gracefully, and
# the container's exit status is the kernel's.
set -eu

: "${KERNEL_RESPONSE_ADDRESS:=${RESPONSE_ADDRESS:-${EG_RESPONSE_ADDRESS:-}}}"
: "${KERNEL_PUBLIC_KEY:=${PUBLIC_KEY:-${EG_PUBLIC_KEY:-}}}"
: "${KERNEL_PORT_RANGE:=${PORT_RANGE:-${EG_PORT_RANGE:-}}}"
export KERNEL_RESPONSE_ADDRESS KERNEL_PUBLIC_KEY KERNEL_PORT_RANGE

KERNEL_LANGUAGE=$(printf '%s' "${KERNEL_LANGUAGE:-python}" | tr '[:upper:]' '[:lower:]')
export KERNEL_LANGUAGE

launcher=${GATEWAY_LAUNCHER:-/opt/gateway-launcher/gateway-launcher.mjs}
node=${GATEWAY_LAUNCHER_NODE:-node}
if [ ! -f "$launcher" ]; then
  echo "gateway-launcher-entrypoint: no launcher bundle at $launcher (set GATEWAY_LAUNCHER)" >&2
  exit 2
fi

exec "$node" "$launcher" "$@"
