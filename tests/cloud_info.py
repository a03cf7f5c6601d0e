"""A ``tcup.cloud.CloudInfo`` for tests that need one without a cloud."""

from __future__ import annotations

from typing import Any

from tcup.cloud import CloudInfo


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
