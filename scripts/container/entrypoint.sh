#!/bin/sh
# Entrypoint of a kernel container image (Kubernetes pod, Docker container):
# runs gateway-launcher with the kernel's parameters from the environment,
# as a pod receives them (see kernel-pod.yaml and docs/deploy-container.md).
#
#   KERNEL_ID, KERNEL_RESPONSE_ADDRESS, KERNEL_PUBLIC_KEY, KERNEL_PORT_RANGE,
#   KERNEL_LAUNCH_TOKEN (from a Secret)     read by the launcher itself
#   KERNEL_LANGUAGE                          python (default), r or scala; any case
#   KERNEL_SPARK_CONTEXT_INIT_MODE, KERNEL_CLUSTER_TYPE, KERNEL_CLASS_NAME
#                                            turned into the matching flags
#   RESPONSE_ADDRESS, PUBLIC_KEY, PORT_RANGE the names Gateway Provisioners'
#                                            container provisioners set
#   GATEWAY_LAUNCHER                         the bundle (default /opt/gateway-launcher/gateway-launcher.mjs)
#   GATEWAY_LAUNCHER_NODE                    node binary (default: node on PATH)
#
# Arguments given to the container are passed on to the launcher after the
# flags derived here, so they win. Node is exec'ed: the launcher receives the
# container runtime's SIGTERM directly and stops the kernel gracefully, and
# the container's exit status is the kernel's.
set -eu

: "${KERNEL_RESPONSE_ADDRESS:=${RESPONSE_ADDRESS:-}}"
: "${KERNEL_PUBLIC_KEY:=${PUBLIC_KEY:-}}"
: "${KERNEL_PORT_RANGE:=${PORT_RANGE:-}}"
export KERNEL_RESPONSE_ADDRESS KERNEL_PUBLIC_KEY KERNEL_PORT_RANGE

KERNEL_LANGUAGE=$(printf '%s' "${KERNEL_LANGUAGE:-python}" | tr '[:upper:]' '[:lower:]')
export KERNEL_LANGUAGE

launcher=${GATEWAY_LAUNCHER:-/opt/gateway-launcher/gateway-launcher.mjs}
node=${GATEWAY_LAUNCHER_NODE:-node}
if [ ! -f "$launcher" ]; then
  echo "gateway-launcher-entrypoint: no launcher bundle at $launcher (set GATEWAY_LAUNCHER)" >&2
  exit 2
fi

# Derived flags go first, container arguments after them (the last value wins).
n=$#
[ -n "${KERNEL_SPARK_CONTEXT_INIT_MODE:-}" ] && set -- "$@" --spark-context-initialization-mode "$KERNEL_SPARK_CONTEXT_INIT_MODE"
[ -n "${KERNEL_CLUSTER_TYPE:-}" ] && set -- "$@" --cluster-type "$KERNEL_CLUSTER_TYPE"
[ -n "${KERNEL_CLASS_NAME:-}" ] && set -- "$@" --kernel-class-name "$KERNEL_CLASS_NAME"
# Rotate the original arguments behind the derived ones.
while [ "$n" -gt 0 ]; do
  first=$1
  shift
  set -- "$@" "$first"
  n=$((n - 1))
done

exec "$node" "$launcher" "$@"
