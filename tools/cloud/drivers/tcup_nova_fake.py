"""Nova's fake hypervisor for the reference cloud.

``TcupFakeDriver`` is Nova's in-tree ``FakeDriverWithoutFakeNodes`` (one node
with a stable UUID kept in ``<state_path>/compute_id``, so nova-compute survives
a restart) with three changes:

- ``snapshot`` uploads a few bytes with a disk and container format, so the
  snapshot image becomes ``active`` (the stock driver leaves it ``queued``);
- ``get_host_ip_addr`` answers ``my_ip`` instead of a private address;
- hook points for SSH guests (see "Guests" below).

Nova loads a compute driver only as ``nova.virt.<module>``; tools/cloud/up writes
the shim ``nova/virt/tcup_fake.py`` into the platform venv, which imports this
module, and nova.conf names ``tcup_fake.TcupFakeDriver``.

Guests: with ``[tcup_guests] enabled = True`` in nova.conf (``TCUP_CLOUD_GUESTS=1``
when tools/cloud/up renders it), each server gets a guest that answers SSH,
made by the ``tcup_guests`` module of this package. The hooks ``_guest_up``,
``_guest_down``, ``_guest_disk_attached`` and ``_guest_disk_detached`` are the
only places that call it; with guests disabled they do nothing.
"""

from __future__ import annotations

import io
import logging

from nova.image import glance
from nova.virt import fake
from oslo_config import cfg

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

GUEST_OPTS = [
    cfg.BoolOpt("enabled", default=False, help="Give each server an SSH guest (tcup_guests)."),
    cfg.StrOpt("state_dir", help="Folder of the guests' state (keys, pids, disks)."),
]
CONF.register_opts(GUEST_OPTS, group="tcup_guests")

# What a snapshot uploads: Glance needs some bytes to make the image active.
SNAPSHOT_BYTES = 64 * 1024


class TcupFakeDriver(fake.FakeDriverWithoutFakeNodes):
    """A single-node fake hypervisor whose snapshots become active images."""

    def get_host_ip_addr(self) -> str:
        return CONF.my_ip

    def spawn(
        self,
        context,
        instance,
        image_meta,
        injected_files,
        admin_password,
        allocations,
        network_info=None,
        block_device_info=None,
        power_on=True,
        accel_info=None,
    ):
        super().spawn(
            context,
            instance,
            image_meta,
            injected_files,
            admin_password,
            allocations,
            network_info=network_info,
            block_device_info=block_device_info,
            power_on=power_on,
            accel_info=accel_info,
        )
        self._guest_up(instance, network_info, block_device_info)

    def destroy(
        self,
        context,
        instance,
        network_info,
        block_device_info=None,
        destroy_disks=True,
        destroy_secrets=True,
    ):
        self._guest_down(instance)
        super().destroy(
            context,
            instance,
            network_info,
            block_device_info=block_device_info,
            destroy_disks=destroy_disks,
            destroy_secrets=destroy_secrets,
        )

    def attach_volume(
        self,
        context,
        connection_info,
        instance,
        mountpoint,
        disk_bus=None,
        device_type=None,
        encryption=None,
    ):
        super().attach_volume(
            context,
            connection_info,
            instance,
            mountpoint,
            disk_bus=disk_bus,
            device_type=device_type,
            encryption=encryption,
        )
        self._guest_disk_attached(instance, mountpoint)

    def detach_volume(self, context, connection_info, instance, mountpoint, encryption=None):
        super().detach_volume(context, connection_info, instance, mountpoint, encryption=encryption)
        self._guest_disk_detached(instance, mountpoint)

    def snapshot(self, context, instance, image_id, update_task_state):
        super().snapshot(context, instance, image_id, update_task_state)
        meta = {"disk_format": "raw", "container_format": "bare"}
        data = io.BytesIO(bytes(SNAPSHOT_BYTES))
        glance.API().update(context, image_id, meta, data, purge_props=False)

    # --- Guests: hook points, no-ops unless [tcup_guests] enabled ---------------

    @staticmethod
    def _guests():
        """The tcup_guests module when guests are enabled, else None."""
        if not CONF.tcup_guests.enabled:
            return None
        import tcup_guests  # noqa: PLC0415 - optional, imported only when enabled

        return tcup_guests

    def _guest_up(self, instance, network_info, block_device_info=None) -> None:
        """Called after the server exists on the fake hypervisor."""
        if self._guests() is None:
            return

    def _guest_down(self, instance) -> None:
        """Called before the server is removed from the fake hypervisor."""
        if self._guests() is None:
            return

    def _guest_disk_attached(self, instance, mountpoint: str) -> None:
        """Called after a volume was attached at mountpoint (e.g. /dev/vdb)."""
        if self._guests() is None:
            return

    def _guest_disk_detached(self, instance, mountpoint: str) -> None:
        """Called after the volume at mountpoint was detached."""
        if self._guests() is None:
            return
