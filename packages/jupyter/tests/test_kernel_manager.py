"""jupyter_client's KernelManager driven directly, as nbclient and papermill do,
with kernelspecs that name the gateway-launcher provisioner."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest
from jupyter_client import AsyncKernelManager, KernelManager
from jupyter_client.kernelspec import KernelSpecManager

from gateway_launchers_jupyter import GatewayLauncherProvisioner, KernelLaunchError
from gateway_launchers_jupyter import serve_client
from conftest import BOUND, PYTHON, command_lines_containing, launch_token_of, process_alive, wait_gone, write_kernelspec


def _run(kc: Any, code: str) -> Tuple[Dict[str, Any], str]:
    """Executes ``code``; returns the execute_reply content and the stdout text."""
    out = []

    def hook(msg: Dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])

    reply = kc.execute_interactive(code, timeout=BOUND, output_hook=hook)
    return reply["content"], "".join(out)


#: A cell that announces on stdout that it is running, then sleeps.
SLEEP_CELL = "import time; print('sleeping', flush=True); time.sleep(30)"


def _is_sleeping(msg: Dict[str, Any], msg_id: str) -> bool:
    """The event an interrupt waits for: the sleep cell's own output.

    Not its ``busy`` status: ipykernel publishes busy before it installs its
    SIGINT handler (SIGINT is ignored until then), so an interrupt sent on busy
    can be lost and the cell sleeps its 30 s.
    """
    return msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream" and "sleeping" in msg["content"]["text"]


def _interrupt_sleep(km: KernelManager, kc: Any) -> Dict[str, Any]:
    """Runs SLEEP_CELL, interrupts it once it is running; returns the execute_reply content.

    ``stop_on_error=False``: after an error reply ipykernel aborts the requests
    that reach it before it has finished aborting its queue, so a client that
    asks again at once would race with it.
    """
    msg_id = kc.execute(SLEEP_CELL, stop_on_error=False)
    while not _is_sleeping(kc.get_iopub_msg(timeout=BOUND), msg_id):
        pass
    km.interrupt_kernel()
    while True:
        reply = kc.get_shell_msg(timeout=BOUND)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]


@pytest.fixture()
def specs(tools: Dict[str, Any], tmp_path: Path) -> KernelSpecManager:
    root = tmp_path / "kernels"
    write_kernelspec(root, "gl_direct", {"launch": "local", "mode": "direct", "launch_timeout": 120})
    write_kernelspec(root, "gl_proxy", {"launch": "local", "mode": "proxy", "launch_timeout": 120})
    # The kernel's own command line after --, {connection_file} left for the launcher.
    write_kernelspec(root, "gl_argv", {"launch": "local", "launch_timeout": 120},
                     argv=["gateway-launcher", "--", PYTHON, "-m", "ipykernel_launcher", "-f", "{connection_file}"])
    write_kernelspec(root, "gl_crash", {"launch": "local", "launch_timeout": 600},
                     argv=["gateway-launcher", "--", PYTHON, "-c", "import sys; sys.stderr.write('no-such-module-marker\\n'); sys.exit(3)", "{connection_file}"])
    write_kernelspec(root, "gl_badflag", {"launch": "local", "launch_timeout": 600},
                     argv=["gateway-launcher", "--kernel-language", "python", "--bogus-flag-marker"])
    write_kernelspec(root, "gl_typo", {"launch": "local", "port_rnage": "40000..41000"})
    return KernelSpecManager(kernel_dirs=[str(root)])


def test_direct_mode_execute_interrupt_restart_shutdown(specs: KernelSpecManager, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    km = KernelManager(kernel_name="gl_direct", kernel_spec_manager=specs)
    km.start_kernel()
    prov = km.provisioner
    assert isinstance(prov, GatewayLauncherProvisioner)
    launcher_pid = prov._recipe_process.popen.pid
    token = launch_token_of(launcher_pid)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=BOUND)
        content, out = _run(kc, "import os; print(os.getpid(), os.environ.get('KERNEL_LAUNCH_TOKEN'))")
        assert content["status"] == "ok"
        kernel_pid, seen_token = out.split()
        assert seen_token == "None", "the kernel's environment has no launch token"
        assert km.is_alive()

        # The token is on no command line, in no log record, provisioner info or state file.
        assert command_lines_containing(token) == []
        info = asyncio.run(prov.get_provisioner_info())
        assert token not in json.dumps(info)
        assert info["gateway_launcher"]["control_target"]["kernel_id"] == km.kernel_id
        state_files = list(Path(prov._state_dir(), "kernels").iterdir())
        assert state_files, "the running kernel is recorded for adoption"
        for f in state_files:
            assert token not in f.read_text(errors="replace"), f
        assert token not in caplog.text
        assert token not in json.dumps(specs.get_kernel_spec("gl_direct").to_dict())

        reply = _interrupt_sleep(km, kc)
        assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
        content, out = _run(kc, "print('after interrupt')")
        assert content["status"] == "ok" and out == "after interrupt\n", content

        km.restart_kernel()
        # A restart launches a new launcher on new ports: clients connect afresh
        # (Jupyter Server does this itself when the ports change).
        kc.stop_channels()
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=BOUND)
        content, out = _run(kc, "import os; print(os.getpid())")
        assert content["status"] == "ok" and out.strip() != kernel_pid, "a new kernel process after restart"
        assert wait_gone(int(kernel_pid)), "the old kernel is gone"
        assert wait_gone(launcher_pid), "the old launcher is gone"
        restarted_launcher = km.provisioner._recipe_process.popen.pid
        kernel_pid = out.strip()
    finally:
        kc.stop_channels()
        km.shutdown_kernel()
    assert not km.is_alive()
    assert wait_gone(int(kernel_pid)), "kernel process left after shutdown"
    assert wait_gone(restarted_launcher), "launcher process left after shutdown"
    assert not Path(prov._state_dir(), "kernels", f"{km.kernel_id}.json").exists(), "the record is removed with the kernel"


def test_proxy_mode_with_async_kernel_manager_as_nbclient_does(specs: KernelSpecManager) -> None:
    async def main() -> None:
        km = AsyncKernelManager(kernel_name="gl_proxy", kernel_spec_manager=specs)
        await km.start_kernel()
        assert km.provisioner._launch_info["mode"] == "proxy"
        launcher_pid = km.provisioner._recipe_process.popen.pid
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=BOUND)
            reply = await kc.execute_interactive("import os; print(os.getpid())", timeout=BOUND, output_hook=hook)
            assert reply["content"]["status"] == "ok"
            kernel_pid = int(out[-1])
            msg_id = kc.execute(SLEEP_CELL, stop_on_error=False)
            while not _is_sleeping(await kc.get_iopub_msg(timeout=BOUND), msg_id):
                pass
            await km.interrupt_kernel()
            while True:
                reply = await kc.get_shell_msg(timeout=BOUND)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            assert reply["content"]["ename"] == "KeyboardInterrupt"
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()
        assert not await km.is_alive()
        assert wait_gone(kernel_pid) and wait_gone(launcher_pid)

    out: list = []

    def hook(msg: Dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"].strip())

    asyncio.run(main())


def test_kernel_argv_after_double_dash_gets_the_launchers_connection_file(specs: KernelSpecManager) -> None:
    km = KernelManager(kernel_name="gl_argv", kernel_spec_manager=specs)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=BOUND)
        content, out = _run(kc, "import sys; print(sys.argv[-1])")
        assert content["status"] == "ok"
        # The kernel read the launcher's own connection file, not the host's.
        assert out.strip().endswith(".json") and out.strip() != km.connection_file
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert not km.is_alive()


def test_a_kernel_that_dies_at_start_fails_the_start_with_exit_code_and_stderr(specs: KernelSpecManager) -> None:
    km = KernelManager(kernel_name="gl_crash", kernel_spec_manager=specs)
    with pytest.raises(KernelLaunchError) as err:
        km.start_kernel()
    # Not the 600 s registration timeout: the launcher's failure report.
    assert err.value.code == "GL_ERR_KERNEL_FAILED"
    assert err.value.exit_code == 3
    assert "no-such-module-marker" in str(err.value)


def test_a_launcher_usage_error_fails_the_start_with_its_exit_status_and_message(specs: KernelSpecManager) -> None:
    km = KernelManager(kernel_name="gl_badflag", kernel_spec_manager=specs)
    with pytest.raises(KernelLaunchError) as err:
        km.start_kernel()
    assert err.value.code == "GL_ERR_KERNEL_FAILED"
    assert err.value.exit_code == 2
    assert "bogus-flag-marker" in str(err.value)


def test_a_misspelt_config_key_is_named(specs: KernelSpecManager) -> None:
    km = KernelManager(kernel_name="gl_typo", kernel_spec_manager=specs)
    with pytest.raises(ValueError, match="port_rnage"):
        km.start_kernel()


def test_two_kernels_share_one_serve_process(specs: KernelSpecManager) -> None:
    kms = [KernelManager(kernel_name="gl_direct", kernel_spec_manager=specs) for _ in range(2)]
    try:
        for km in kms:
            km.start_kernel()
        clients = {id(km.provisioner._client) for km in kms}
        assert len(clients) == 1
        client = kms[0].provisioner._client
        assert len([c for c in serve_client._shared.values() if c.alive]) == 1
        stats = client.request("stats", {}).result(timeout=BOUND)
        assert stats["sessions"] >= 2 and stats["web_sockets"] >= 2
    finally:
        for km in kms:
            if km.has_kernel:
                km.shutdown_kernel(now=True)
