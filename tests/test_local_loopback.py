"""A local cluster listens on loopback only by default: neither its scheduler nor its
dashboard can be reached through a network address of the machine; ``host`` widens it."""

from __future__ import annotations

import socket
import urllib.parse

import psutil
import pytest

from acme.clusters import cluster_cleanup, local_cluster_setup


def network_address() -> str:
    """An IPv4 address of this machine other than loopback (skip the test if none)."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return address.address
    pytest.skip("this machine has no non-loopback IPv4 address")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=5):
            return True
    except OSError:
        return False


def ports(client) -> tuple[int, int]:
    scheduler = urllib.parse.urlsplit(client.scheduler.address.replace("tcp://", "http://"))
    dashboard = urllib.parse.urlsplit(client.dashboard_link)
    assert scheduler.port is not None and dashboard.port is not None
    return scheduler.port, dashboard.port


@pytest.mark.parametrize("host, outside", [(None, False), ("0.0.0.0", True)])
def test_scheduler_and_dashboard_listen_where_asked(host, outside):
    address = network_address()
    kwargs = {} if host is None else {"host": host}
    client = local_cluster_setup(n_workers=1, interactive=False, **kwargs)
    try:
        scheduler_port, dashboard_port = ports(client)
        assert reachable("127.0.0.1", scheduler_port)
        assert reachable("127.0.0.1", dashboard_port)
        assert reachable(address, dashboard_port) is outside
        assert reachable(address, scheduler_port) is outside
    finally:
        cluster_cleanup(client)


def test_host_must_be_a_string():
    with pytest.raises(TypeError, match="`host` has to be an address like '127.0.0.1'"):
        local_cluster_setup(n_workers=1, interactive=False, host=127)
