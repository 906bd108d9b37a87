"""Primary resource of gateway-launcher's YARN kernelspecs (python).

spark-submit runs this file as the Spark driver in the application master's
container; it replaces itself with gateway-launcher, which starts the kernel.
The kernel therefore inherits the driver's environment, including the Py4J
gateway Spark opened for this process, and runs on the same interpreter.

Finds the launcher in the archive run.sh ships (./gateway-launcher/), or at
GATEWAY_LAUNCHER; node on PATH, or GATEWAY_LAUNCHER_NODE, or a node binary
shipped inside the archive at gateway-launcher/node/bin/node.
"""
import os
import sys

BUNDLE = "gateway-launcher.mjs"


def find_launcher():
    explicit = os.environ.get("GATEWAY_LAUNCHER")
    if explicit:
        return explicit
    here = os.path.dirname(os.path.abspath(__file__))
    for base in (os.getcwd(), here):
        path = os.path.join(base, "gateway-launcher", BUNDLE)
        if os.path.isfile(path):
            return path
    return None


def main():
    launcher = find_launcher()
    if launcher is None:
        sys.stderr.write("launch_gateway_launcher.py: gateway-launcher/%s not found in %s (was the archive shipped with --archives ...#gateway-launcher?)\n" % (BUNDLE, os.getcwd()))
        return 1
    node = os.environ.get("GATEWAY_LAUNCHER_NODE")
    if not node:
        shipped = os.path.join(os.path.dirname(launcher), "node", "bin", "node")
        node = shipped if os.access(shipped, os.X_OK) else "node"
    # The kernel runs on the interpreter Spark chose for the driver.
    os.environ.setdefault("KERNEL_PYTHON", sys.executable)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(node, [node, launcher] + sys.argv[1:])
    except OSError as e:
        sys.stderr.write("launch_gateway_launcher.py: cannot run %s: %s\n" % (node, e))
        return 127


if __name__ == "__main__":
    sys.exit(main())
