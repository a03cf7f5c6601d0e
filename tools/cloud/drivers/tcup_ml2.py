"""An ML2 mechanism driver that binds every port, with no agent.

Neutron normally binds a port only on a host where an L2 agent reports. The
reference cloud runs no agent, so this driver binds each port to the first
segment of its network as an OVS port and marks it ACTIVE at once. Neutron
then tells Nova ``network-vif-plugged`` and the server boots.
"""

from __future__ import annotations

from neutron_lib.plugins.ml2 import api

VIF_TYPE = "ovs"
VIF_DETAILS = {"port_filter": True, "ovs_hybrid_plug": False, "connectivity": "l2"}


class BindAllMechanismDriver(api.MechanismDriver):
    """Bind any port on any host to the first segment of its network."""

    def initialize(self) -> None:
        pass

    @property
    def connectivity(self) -> str:
        return "l2"

    def bind_port(self, context) -> None:
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], VIF_TYPE, dict(VIF_DETAILS), status="ACTIVE")
            return
