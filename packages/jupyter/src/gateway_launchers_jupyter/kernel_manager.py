"""A Jupyter Server kernel manager that adopts the gateway-launcher kernels
an earlier server process left running.

Jupyter Server 1.x forgets its kernels when it stops. The provisioner records
each running kernel (``state.py``) and the listener's key pair is persisted
(``--key-file``), so a new server process can take the launchers over: this
class reads the records at start, rebuilds a kernel manager per kernel through
``load_provisioner_info`` (which ``adopt``\\ s the launcher in the new serve
process) and lists them like kernels it started itself.

    c.ServerApp.kernel_manager_class = "gateway_launchers_jupyter.GatewayLauncherMappingKernelManager"
    c.GatewayLauncherMappingKernelManager.keep_kernels_on_exit = True   # a stopping server leaves them running
"""
from __future__ import annotations

import asyncio
import os
from typing import Any, Dict

from jupyter_client.provisioning import KernelProvisionerFactory as KPF
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from jupyter_server.utils import ensure_async
from traitlets import Bool

from . import state
from .provisioner import GatewayLauncherProvisioner

try:  # jupyter_server >= 1.x
    from jupyter_server._tz import utcnow
except ImportError:  # pragma: no cover
    from datetime import datetime, timezone

    def utcnow():  # type: ignore[no-redef]
        return datetime.now(timezone.utc)

__all__ = ["GatewayLauncherMappingKernelManager"]


class GatewayLauncherMappingKernelManager(AsyncMappingKernelManager):
    """``AsyncMappingKernelManager`` plus adoption of recorded gateway-launcher kernels."""

    keep_kernels_on_exit = Bool(
        False,
        config=True,
        help="When the server stops, leave gateway-launcher kernels running for the next server process to adopt "
        "(other kernels are shut down as usual).",
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        loop = asyncio.get_event_loop()
        adopting = self.adopt_recorded_kernels()
        if loop.is_running():
            self._adopting = asyncio.ensure_future(adopting)
        else:
            # The server has not started its loop yet: adopt before the first request.
            loop.run_until_complete(adopting)

    def _state_dir(self) -> str:
        configured = self.config.get("GatewayLauncherProvisioner", {}).get("state_dir")
        return str(configured) if configured else state.default_state_dir()

    async def adopt_recorded_kernels(self) -> None:
        for kernel_id, record in state.load_all(self._state_dir()):
            if kernel_id in self._kernels:
                continue
            try:
                await self._adopt(kernel_id, record)
                self.log.info("gateway-launcher: adopted running kernel %s", kernel_id)
            except Exception as e:  # one bad record must not stop the server
                self.log.warning("gateway-launcher: could not adopt kernel %s: %s", kernel_id, e)

    async def _adopt(self, kernel_id: str, record: Dict[str, Any]) -> None:
        kernel_name = record.get("kernel_name") or self.default_kernel_name
        kwargs: Dict[str, Any] = {}
        if self.kernel_spec_manager:
            kwargs["kernel_spec_manager"] = self.kernel_spec_manager
        km = self.kernel_manager_factory(
            connection_file=os.path.join(self.connection_dir, f"kernel-{kernel_id}.json"),
            parent=self,
            log=self.log,
            kernel_name=kernel_name,
            **kwargs,
        )
        km.kernel_id = kernel_id
        provisioner = KPF.instance(parent=self.parent).create_provisioner_instance(kernel_id, km.kernel_spec, parent=km)
        if not isinstance(provisioner, GatewayLauncherProvisioner):
            raise RuntimeError(f"kernelspec {kernel_name} no longer uses the gateway-launcher provisioner")
        await provisioner.load_provisioner_info(record["provisioner_info"])
        km.provisioner = provisioner
        km._launch_args = {}  # a restart launches afresh with the server's environment
        # Loaded first: with the previous server's connection file still present,
        # reconciling alone would compare it with an empty manager.
        km.load_connection_info(provisioner.connection_info)
        km._reconcile_connection_info(provisioner.connection_info)
        ready: asyncio.Future = asyncio.get_event_loop().create_future()
        ready.set_result(None)
        km._ready = ready
        # Started (by the earlier server): jupyter_client's pending-state wrapper
        # then gives shutdown and restart fresh futures instead of settling this
        # one again (InvalidStateError, and a deleted kernel that stayed listed
        # and kept the server from exiting on SIGTERM).
        km._attempted_start = True
        km.start_restarter()
        km._connect_control_socket()
        self._kernels[kernel_id] = km
        self._kernel_connections[kernel_id] = 0
        self._kernel_ports[kernel_id] = km.ports
        self.start_watching_activity(kernel_id)
        self.add_restart_callback(kernel_id, lambda: self._handle_kernel_died(kernel_id), "dead")
        km.execution_state = "idle"
        km.reason = ""
        km.last_activity = utcnow()
        if not self._initialized_culler:
            self.initialize_culler()

    async def shutdown_all(self, now: bool = False) -> None:
        if not self.keep_kernels_on_exit:
            await ensure_async(super().shutdown_all(now=now))
            return
        kept = [kid for kid, km in self._kernels.items() if isinstance(km.provisioner, GatewayLauncherProvisioner)]
        for kid in kept:
            km = self._kernels.pop(kid)
            km.stop_restarter()
            self.log.info("gateway-launcher: leaving kernel %s running for the next server", kid)
        await ensure_async(super().shutdown_all(now=now))
