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

Guests: with ``[tcup_guests] enabled = True`` in nova.conf (tools/cloud/up renders
it so unless ``TCUP_CLOUD_GUESTS=0``), each server gets a guest that answers SSH,
made by the ``tcup_guests`` module of this package. The hooks ``_guest_up``
(spawn), ``_guest_down`` (destroy), ``_guest_disk_attached``,
``_guest_disk_detached`` and ``_guest_power`` (power off, power on, reboot) are
the only places that call it; with guests disabled they do nothing. A guest
that cannot be made is logged at WARNING and leaves the server ACTIVE.
"""

from __future__ import annotations

import io
import ipaddress
import logging
import os

from nova.image import glance
from nova.virt import driver, fake
from oslo_config import cfg

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

GUEST_OPTS = [
    cfg.BoolOpt("enabled", default=False, help="Give each server an SSH guest (tcup_guests)."),
    cfg.StrOpt("state_dir", help="Folder of the guests' state (keys, pids, disks)."),
    cfg.StrOpt(
        "ssh_user", default="cirros", help="The guests' login user (Tempest's image_ssh_user)."
    ),
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

    def power_off(self, instance, timeout=0, retry_interval=0):
        super().power_off(instance, timeout=timeout, retry_interval=retry_interval)
        self._guest_power(instance, "stop_guest")

    def power_on(
        self,
        context,
        instance,
        network_info,
        block_device_info=None,
        accel_info=None,
        share_info=None,
    ):
        # The compute manager passes every argument by position.
        super().power_on(context, instance, network_info, block_device_info, accel_info, share_info)
        self._guest_power(instance, "start_guest")

    def reboot(
        self, context, instance, network_info, reboot_type, block_device_info=None, **kwargs
    ):
        super().reboot(
            context,
            instance,
            network_info,
            reboot_type,
            block_device_info=block_device_info,
            **kwargs,
        )
        self._guest_power(instance, "reboot_guest")

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

    @staticmethod
    def _guest_state_dir() -> str:
        return CONF.tcup_guests.state_dir or os.path.join(CONF.state_path, "guests")

    def _guest_up(self, instance, network_info, block_device_info=None) -> None:
        """Called after the server exists on the fake hypervisor."""
        guests = self._guests()
        if guests is None:
            return
        fixed = first_fixed_ipv4(network_info)
        if fixed is None:
            LOG.warning("server %s has no fixed IPv4 address: no SSH guest", instance.uuid)
            return
        ip_cidr, gateway, mac = fixed
        state_dir = self._guest_state_dir()
        try:
            guests.create_guest(
                instance.uuid,
                instance.hostname,
                ip_cidr,
                gateway,
                mac,
                instance.key_data,
                instance.flavor.vcpus,
                CONF.tcup_guests.ssh_user,
                state_dir,
                root_gb=instance.flavor.root_gb,
            )
            for volume in driver.block_device_info_get_mapping(block_device_info):
                if volume.get("mount_device"):
                    guests.attach_disk(instance.uuid, volume["mount_device"], state_dir)
        except guests.GuestError as exc:
            # The server stays ACTIVE (it exists for every test that does not log
            # in); the reason is in nova-compute's log.
            LOG.warning("server %s gets no SSH guest: %s", instance.uuid, exc)

    def _guest_down(self, instance) -> None:
        """Called before the server is removed from the fake hypervisor."""
        guests = self._guests()
        if guests is None:
            return
        try:
            guests.destroy_guest(instance.uuid, self._guest_state_dir())
        except guests.GuestError as exc:
            LOG.warning("server %s: its SSH guest was not removed: %s", instance.uuid, exc)

    def _guest_disk_attached(self, instance, mountpoint: str) -> None:
        """Called after a volume was attached at mountpoint (e.g. /dev/vdb)."""
        guests = self._guests()
        if guests is None or not guests.has_guest(instance.uuid, self._guest_state_dir()):
            return
        try:
            guests.attach_disk(instance.uuid, mountpoint, self._guest_state_dir())
        except guests.GuestError as exc:
            LOG.warning(
                "server %s: disk %s not shown in its guest: %s", instance.uuid, mountpoint, exc
            )

    def _guest_disk_detached(self, instance, mountpoint: str) -> None:
        """Called after the volume at mountpoint was detached."""
        guests = self._guests()
        if guests is None:
            return
        try:
            guests.detach_disk(instance.uuid, mountpoint, self._guest_state_dir())
        except guests.GuestError as exc:
            LOG.warning(
                "server %s: disk %s still shown in its guest: %s", instance.uuid, mountpoint, exc
            )

    def _guest_power(self, instance, action: str) -> None:
        """stop_guest, start_guest or reboot_guest, for a server that has a guest."""
        guests = self._guests()
        if guests is None or not guests.has_guest(instance.uuid, self._guest_state_dir()):
            return
        try:
            getattr(guests, action)(instance.uuid, self._guest_state_dir())
        except guests.GuestError as exc:
            LOG.warning("server %s: %s failed: %s", instance.uuid, action, exc)


def first_fixed_ipv4(network_info) -> tuple[str, str | None, str] | None:
    """(address/prefix, gateway or None, MAC) of the server's first fixed IPv4 address."""
    for vif in network_info or []:
        for subnet in vif["network"]["subnets"]:
            for ip in subnet["ips"]:
                if ip["version"] == 4 and ip["type"] == "fixed":
                    prefix = ipaddress.ip_network(subnet["cidr"]).prefixlen
                    gateway = (subnet.get("gateway") or {}).get("address")
                    return f"{ip['address']}/{prefix}", gateway, vif["address"]
    return None
