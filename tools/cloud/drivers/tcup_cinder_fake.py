"""Cinder's fake volume back end for the reference cloud.

``TcupFakeVolumeDriver`` is Cinder's in-tree ``FakeLoggingVolumeDriver`` (no
LVM, no iSCSI, no loop device) made to handle images without sudo, privsep,
qemu-img or a device node:

- a volume from an image is "cloned" at once, nothing is downloaded;
- an image from a volume receives a few bytes, so it becomes ``active``.

Kept apart from tcup_nova_fake: importing nova and cinder in one process fails
(both register the option ``default_availability_zone``).
"""

from __future__ import annotations

import io

from cinder.tests import fake_driver

# What an upload to an image writes: Glance needs some bytes to make it active.
IMAGE_BYTES = 64 * 1024


class TcupFakeVolumeDriver(fake_driver.FakeLoggingVolumeDriver):
    """A volume back end that keeps nothing and needs no privileges."""

    def clone_image(self, context, volume, image_location, image_meta, image_service):
        # (model update, cloned): Cinder then skips the download and qemu-img.
        return {}, True

    def copy_image_to_volume(self, context, volume, image_service, image_id, disable_sparse=False):
        pass

    def copy_volume_to_image(self, context, volume, image_service, image_meta):
        data = io.BytesIO(bytes(IMAGE_BYTES))
        image_service.update(context, image_meta["id"], {}, data=data, purge_props=False)
