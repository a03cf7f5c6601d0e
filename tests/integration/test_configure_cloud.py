"""Pre-flight and ``tempest.conf`` against the real reference cloud and python-tempestconf.

A catalog endpoint that does not answer is made without touching the shared
cloud: the catalog tcup reads gets one extra entry pointing at a closed
loopback port, and python-tempestconf (which reads the catalog itself) is told
by tcup to leave that type out, exactly as for a real dead endpoint.
"""

from __future__ import annotations

import configparser
import socket
from pathlib import Path

import pytest

from tcup import cloud as cloud_mod
from tcup import configure as configure_mod
from tcup.errors import PreflightError

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _creds(reference_cloud, admin: bool = False) -> cloud_mod.Credentials:  # noqa: ANN001
    return cloud_mod.load_credentials(environ=reference_cloud.env(admin=admin))


@pytest.fixture
def dead_compute(monkeypatch) -> str:  # noqa: ANN001
    """The catalog as tcup reads it gains a compute endpoint on a closed port."""
    url = f"http://127.0.0.1:{_free_port()}/v2.1"
    real = cloud_mod._public_endpoints

    def with_dead_compute(access, creds, any_region=False):  # noqa: ANN001, ANN202
        return {**real(access, creds, any_region), "compute": url}

    monkeypatch.setattr(cloud_mod, "_public_endpoints", with_dead_compute)
    return url


def test_dead_endpoint_of_a_needed_service_fails_preflight(reference_cloud, dead_compute) -> None:  # noqa: ANN001
    with pytest.raises(PreflightError) as caught:
        cloud_mod.preflight(_creds(reference_cloud), ["identity", "compute"])
    assert caught.value.message == (
        f"the compute endpoint {dead_compute} from the catalog does not answer: connection refused"
    )


def test_dead_endpoint_the_target_does_not_need_is_noted(reference_cloud, dead_compute) -> None:  # noqa: ANN001
    info = cloud_mod.preflight(_creds(reference_cloud), ["identity", "object-store"])
    assert info.unreachable == {"compute": "connection refused"}
    assert not info.has_service("compute") and info.has_service("object-store")


def test_a_run_does_not_probe_what_tempest_is_configured_without(
    reference_cloud, dead_compute
) -> None:  # noqa: ANN001
    """A Storage run leaves compute out of tempest.conf whether it answers or not."""
    info = cloud_mod.preflight(
        _creds(reference_cloud), ["identity", "object-store"], probe_unneeded=False
    )
    assert info.unreachable == {}
    assert "compute" in cloud_mod.unneeded_types(info.required, info.services)
    # a plan that needs compute still finds its endpoint dead
    with pytest.raises(PreflightError, match="does not answer"):
        cloud_mod.preflight(_creds(reference_cloud), ["compute"], probe_unneeded=False)


def _use_cloud(reference_cloud, monkeypatch, admin: bool = False) -> cloud_mod.Credentials:  # noqa: ANN001
    """Credentials, and the environment python-tempestconf inherits, for the cloud."""
    for key, value in reference_cloud.env(admin=admin).items():
        monkeypatch.setenv(key, value)
    return _creds(reference_cloud, admin=admin)


def test_tempestconf_leaves_out_what_does_not_answer(
    reference_cloud, monkeypatch, tmp_path: Path
) -> None:  # noqa: ANN001
    """Glance answers here, but tcup says it does not: tempestconf must not touch it."""
    creds = _use_cloud(reference_cloud, monkeypatch, admin=True)
    info = cloud_mod.preflight(creds, ["identity", "object-store"])
    assert info.has_service("image")
    info = cloud_mod.replace(info, unreachable={"image": "connection refused"})
    configured = configure_mod.configure(
        tmp_path / "ws", creds, info, configure_mod.ConfigureOptions()
    )
    conf = configparser.RawConfigParser()
    conf.read(configured.conf)
    assert conf.get("service_available", "glance") == "False"
    assert conf.get("service_available", "swift") == "True"
    assert not conf.has_option("compute", "image_ref")
    log = (configured.workspace / "tempestconf.log").read_text()
    assert "Traceback" not in log
