#!/usr/bin/env bash
# Kernelspec command for YARN cluster mode: spark-submit starts gateway-launcher
# as the Spark driver inside the YARN application master's container, so the
# kernel it starts inherits the driver's environment (PYSPARK_GATEWAY_*,
# SparkR's backend) and its `spark` is the application's own session.
#
#   run.sh [launcher flags…]     e.g. --kernel-language python --spark-context-initialization-mode lazy
#
# Environment (from the kernelspec or the host):
#   SPARK_HOME                  Spark distribution with a YARN configuration (required)
#   KERNEL_ID                   application name; the host sets it (or pass --kernel-id)
#   KERNEL_* (not secret)       forwarded to the launcher as spark.yarn.appMasterEnv.*
#   KERNEL_LAUNCH_TOKEN         forwarded as a file (--files), never on a command line
#   SPARK_OPTS                  extra spark-submit options from the kernelspec (shell words: quotes and
#                               ${VAR} work; an expanded value is never split into more words); its --archives and
#                               --files are merged with ours. There is deliberately no per-user variant
#                               (KERNEL_EXTRA_SPARK_OPTS): a notebook user could pass --proxy-user with it.
#   GATEWAY_LAUNCHER_ARCHIVE    the bundle as a prebuilt .tar.gz (npm run bundle -- --archive PATH); default:
#                               made from the bundle this script is in, per submission, and removed after it
#   GP_IMPERSONATION_ENABLED=True with KERNEL_USERNAME: submit with --proxy-user
#
# With waitAppCompletion=false spark-submit returns once YARN has accepted the
# application; the host learns the rest from the launcher's response.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "gateway-launcher yarn/run.sh: $*" >&2; exit 1; }

[ -n "${SPARK_HOME:-}" ] || die "SPARK_HOME must point at a Spark distribution"
cleanup=""
if [ -n "${GATEWAY_LAUNCHER_ARCHIVE:-}" ]; then
  archive="$GATEWAY_LAUNCHER_ARCHIVE"
  [ -f "$archive" ] || die "no launcher archive at $archive (GATEWAY_LAUNCHER_ARCHIVE)"
else
  # The bundle is the directory above this script: archive it for this submission.
  bundle_dir="$(dirname "$here")"
  [ -f "$bundle_dir/gateway-launcher.mjs" ] || die "no bundle at $bundle_dir (set GATEWAY_LAUNCHER_ARCHIVE to a prebuilt archive)"
  cleanup="$(mktemp -d)"
  archive="$cleanup/gateway-launcher.tar.gz"
  # gzip -1: made at every submission, so speed over size.
  tar -cf - -C "$bundle_dir" . | gzip -1 > "$archive" || die "could not archive the bundle at $bundle_dir"
fi

# The kernel id: from the environment, or from --kernel-id among our arguments (Gateway Provisioners style).
kernel_id="${KERNEL_ID:-}"
language="${KERNEL_LANGUAGE:-python}"
prev=""
for arg in "$@"; do
  case "$prev" in
    --kernel-id|--RemoteProcessProxy.kernel-id) kernel_id="$arg" ;;
    --kernel-language) language="$arg" ;;
  esac
  prev="$arg"
done
[ -n "$kernel_id" ] || die "KERNEL_ID is not set and no --kernel-id was given"

# The primary resource decides how Spark runs the driver: Python or R.
case "$language" in
  python) shim="$here/launch_gateway_launcher.py" ;;
  r|R) shim="$here/launch_gateway_launcher.R" ;;
  *) die "kernel language '$language' is not supported in YARN cluster mode (python or r)" ;;
esac

# Operator options, with their --archives/--files pulled out to be merged with ours
# (spark-submit keeps only the last of each).
archives="$archive#gateway-launcher"
files=""
opts=()
# SPARK_OPTS is the operator's (kernelspec env), so it is parsed as shell words,
# with its quotes and ${VAR} references. What a reference expands to is never
# split into more words nor globbed (IFS empty, set -f): a user-supplied value
# such as KERNEL_USERNAME='bob --proxy-user root' stays inside its one word.
set -f
saved_ifs="$IFS"
IFS=''
eval "words=(${SPARK_OPTS:-})"
IFS="$saved_ifs"
set +f
i=0
while [ $i -lt ${#words[@]} ]; do
  w="${words[$i]}"
  case "$w" in
    --archives) i=$((i + 1)); archives="$archives,${words[$i]}" ;;
    --archives=*) archives="$archives,${w#--archives=}" ;;
    --files) i=$((i + 1)); files="${files:+$files,}${words[$i]}" ;;
    --files=*) files="${files:+$files,}${w#--files=}" ;;
    *) opts+=("$w") ;;
  esac
  i=$((i + 1))
done

impersonation=()
user_clause="on behalf of ${KERNEL_USERNAME:-an unnamed user}"
if [ "${GP_IMPERSONATION_ENABLED:-}" = "True" ]; then
  [ -n "${KERNEL_USERNAME:-}" ] || die "GP_IMPERSONATION_ENABLED=True needs KERNEL_USERNAME"
  impersonation=(--proxy-user "$KERNEL_USERNAME")
  user_clause="as $KERNEL_USERNAME"
fi

# The launcher's parameters reach the container as application master environment.
app_env=()
while IFS= read -r name; do
  [ "$name" = KERNEL_LAUNCH_TOKEN ] && continue
  app_env+=(--conf "spark.yarn.appMasterEnv.$name=${!name}")
done < <(compgen -e | grep '^KERNEL_' || true)

launcher_args=("$@")
if [ -n "${KERNEL_LAUNCH_TOKEN:-}" ]; then
  # YARN localises --files into the container's working directory; Spark's
  # staging directory holding the copy is private to the submitting user.
  [ -n "$cleanup" ] || cleanup="$(mktemp -d)"
  token_dir="$cleanup"
  (umask 077 && printf '%s' "$KERNEL_LAUNCH_TOKEN" > "$token_dir/kernel-launch-token")
  files="${files:+$files,}$token_dir/kernel-launch-token#kernel-launch-token"
  launcher_args+=(--launch-token-file kernel-launch-token)
fi

submit=(
  "$SPARK_HOME/bin/spark-submit"
  "${opts[@]}"
  --master yarn --deploy-mode cluster --name "$kernel_id"
  --conf spark.yarn.submit.waitAppCompletion=false
  "${impersonation[@]}"
  "${app_env[@]}"
  --archives "$archives"
)
[ -n "$files" ] && submit+=(--files "$files")
submit+=("$shim" "${launcher_args[@]}")

echo "Starting a $language kernel in YARN cluster mode $user_clause (application $kernel_id)" >&2
if [ -z "$cleanup" ]; then
  exec "${submit[@]}"
fi
# The archive and token file must outlive the upload; remove them once spark-submit is done.
trap 'rm -rf "$cleanup"' EXIT
"${submit[@]}"
