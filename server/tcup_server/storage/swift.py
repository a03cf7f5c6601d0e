"""Artefacts as objects in an OpenStack Swift container, through openstacksdk.

The cloud comes from clouds.yaml (``OS_CLIENT_CONFIG_FILE`` selects the file,
``swift_cloud`` the entry) or ``OS_*`` variables when ``swift_cloud`` is empty.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator

from tcup.errors import InputError
from tcup_server.storage import ArtefactNotFound, ArtefactStore, StoredObject

LOG = logging.getLogger(__name__)


class SwiftStore(ArtefactStore):
    def __init__(self, cloud: str, container: str, connection=None) -> None:  # noqa: ANN001
        import openstack
        from openstack import exceptions

        self._exceptions = exceptions
        self.container = container
        try:
            self.conn = connection or openstack.connect(cloud=cloud or None)
            self.conn.object_store.create_container(container)
        except exceptions.SDKException as exc:
            raise InputError(
                f"cannot open Swift container '{container}' on cloud '{cloud or 'OS_*'}': {exc}",
                hint="check swift_cloud and OS_CLIENT_CONFIG_FILE (clouds.yaml)",
            ) from exc

    def put(self, key: str, data: bytes) -> None:
        self.conn.object_store.upload_object(self.container, key, data=data)

    def get(self, key: str) -> bytes:
        try:
            return self.conn.object_store.download_object(key, container=self.container)
        except self._exceptions.NotFoundException:
            raise ArtefactNotFound(key) from None

    def delete(self, key: str) -> None:
        with contextlib.suppress(self._exceptions.NotFoundException):
            self.conn.object_store.delete_object(key, container=self.container)

    def exists(self, key: str) -> bool:
        try:
            self.conn.object_store.get_object_metadata(key, container=self.container)
        except self._exceptions.NotFoundException:
            return False
        return True

    def check(self) -> None:
        """HEAD the container: Keystone and Swift answer, and the container is there."""
        self.conn.object_store.get_container_metadata(self.container)

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        for obj in self.conn.object_store.objects(self.container, prefix=prefix or None):
            modified = _swift_time(getattr(obj, "last_modified_at", None))
            yield StoredObject(obj.name, modified)


def _swift_time(value: str | None) -> dt.datetime:
    """Swift's listing time (ISO 8601, UTC, no zone) as naive UTC; 'now' if missing."""
    if value:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            LOG.warning("unreadable last-modified time %r in a Swift listing", value)
        else:
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
            return parsed
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
