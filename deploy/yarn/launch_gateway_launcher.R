# Primary resource of gateway-launcher's YARN kernelspecs (R).
#
# spark-submit runs this file with Rscript as the Spark driver in the
# application master's container. It runs gateway-launcher, which starts the
# kernel (IRkernel); the kernel inherits the driver's environment, including
# the SparkR backend Spark opened for this process. R cannot replace itself
# with another program, so it waits and exits with the launcher's status.
#
# Finds the launcher in the archive run.sh ships (./gateway-launcher/), or at
# GATEWAY_LAUNCHER; node on PATH, or GATEWAY_LAUNCHER_NODE, or a node binary
# shipped inside the archive at gateway-launcher/node/bin/node.
local({
  launcher <- Sys.getenv("GATEWAY_LAUNCHER")
  if (!nzchar(launcher)) launcher <- file.path(getwd(), "gateway-launcher", "gateway-launcher.mjs")
  if (!file.exists(launcher)) {
    message("launch_gateway_launcher.R: ", launcher, " not found (was the archive shipped with --archives ...#gateway-launcher?)")
    quit(save = "no", status = 1)
  }
  node <- Sys.getenv("GATEWAY_LAUNCHER_NODE")
  if (!nzchar(node)) {
    shipped <- file.path(dirname(launcher), "node", "bin", "node")
    node <- if (file.exists(shipped)) shipped else "node"
  }
  # The kernel's R is this R.
  Sys.setenv(PATH = paste(R.home("bin"), Sys.getenv("PATH"), sep = .Platform$path.sep))
  status <- system2(node, shQuote(c(launcher, commandArgs(trailingOnly = TRUE))))
  quit(save = "no", status = status)
})
