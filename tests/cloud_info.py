"""``tcup.cloud`` values (``CloudInfo``, ``Credentials``) for tests run without a cloud."""

from __future__ import annotations

from typing import Any

from tcup.cloud import CloudInfo, Credentials


def make_cloud_info(**fields: Any) -> CloudInfo:
    """A Keystone v3 cloud with no services; ``fields`` replace any default."""
    values: dict[str, Any] = dict(
        auth_url="http://h:5000/v3",
        identity_version="v3",
        user="u",
        user_id="uid",
        user_domain="Default",
        project="p",
        project_id="pid",
        project_domain="Default",
        region="RegionOne",
        roles=("member",),
        cpid="c",
        cpid_source="keystone",
        services={},
    )
    values.update(fields)
    return CloudInfo(**values)


def make_credentials(**fields: Any) -> Credentials:
    """Password credentials for the loopback Keystone; ``fields`` replace any default."""
    values: dict[str, Any] = dict(
        cloud="test",
        auth_url="http://127.0.0.1:5000/v3",
        auth_type="password",
        username="tcup",
        user_domain="Default",
        project="tcup",
        project_domain="Default",
        region_name="RegionOne",
        interface="public",
        verify=True,
        region=None,
    )
    values.update(fields)
    return Credentials(**values)
