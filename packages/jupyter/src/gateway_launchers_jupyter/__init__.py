"""gateway-launchers for jupyter_client hosts: the ``gateway-launcher`` kernel provisioner.

- :class:`GatewayLauncherProvisioner` — entry point ``gateway-launcher`` in
  ``jupyter_client.kernel_provisioners``; name it in a kernelspec's
  ``metadata.kernel_provisioner.provisioner_name``.
- :class:`GatewayLauncherMappingKernelManager` — a Jupyter Server kernel
  manager that adopts the kernels a previous server process left running.
"""
from .errors import KernelLaunchError
from .provisioner import GatewayLauncherProvisioner

__all__ = ["GatewayLauncherProvisioner", "GatewayLauncherMappingKernelManager", "KernelLaunchError"]
__version__ = "0.1.0"


def __getattr__(name: str):  # jupyter_server is optional: imported only when asked for
    if name == "GatewayLauncherMappingKernelManager":
        from .kernel_manager import GatewayLauncherMappingKernelManager

        return GatewayLauncherMappingKernelManager
    raise AttributeError(name)
