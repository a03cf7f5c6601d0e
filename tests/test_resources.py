"""Image, flavors, networks and validation for compute tests (``tcup.resources``).

The cloud side is an openstacksdk-shaped stand-in here (the selection rules
are what is tested); ``tests/integration/test_configure_cloud.py`` runs the
same code against the reference cloud.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from types import SimpleNamespace

import pytest

from tcup import cloud as cloud_mod
from tcup import manifest as manifest_mod
from tcup import resources
from tcup import run as run_mod
from tcup.errors import ExitCode, InputError, PreflightError
from tcup.testlist import plan
from tests.cloud_info import make_cloud_info, make_credentials
from tests.test_run import GUIDELINE, _guideline

VCPUS = (
    "tempest.api.compute.servers.test_create_server.ServersTestJSON."
    "test_verify_created_server_vcpus"
)
HOSTNAME = (
    "tempest.api.compute.servers.test_create_server.ServersTestJSON."
    "test_host_name_is_same_as_server_name"
)


# --------------------------------------------------------------------- image


def test_disk_format_comes_from_the_first_bytes(tmp_path: Path) -> None:
    qcow2 = tmp_path / "a.qcow2"
    qcow2.write_bytes(b"QFI\xfb" + b"\0" * 20 + struct.pack(">Q", 3 * resources.GIB + 1))
    vmdk = tmp_path / "b"
    vmdk.write_bytes(b"KDMV" + b"\0" * 100)
    vhd = tmp_path / "c"
    vhd.write_bytes(b"\0" * 1024 + b"conectix" + b"\0" * 504)
    iso = tmp_path / "d"
    iso.write_bytes(b"\0" * 0x8001 + b"CD001" + b"\0" * 10)
    raw = tmp_path / "e"
    raw.write_bytes(b"\0" * 4096)
    assert [resources.disk_format(p) for p in (qcow2, vmdk, vhd, iso, raw)] == [
        "qcow2",
        "vmdk",
        "vhd",
        "iso",
        "raw",
    ]
    # a qcow2 expands to its virtual size: the flavor's disk must hold that
    image = resources.local_image(qcow2, tmp_path)
    assert image.disk_format == "qcow2" and image.min_disk_gb == 4


def _glance_image(**fields) -> SimpleNamespace:  # noqa: ANN003
    values = dict(
        id="img-1",
        name="ubuntu",
        status="active",
        disk_format="qcow2",
        container_format="bare",
        visibility="public",
        owner_id="other",
        size=300 * 1024 * 1024,
        virtual_size=2 * resources.GIB + 5,
        min_disk=0,
        min_ram=0,
        properties={},
    )
    values.update(fields)
    return SimpleNamespace(**values)


def _conn(images=(), flavors=None, networks=(), router=True) -> SimpleNamespace:  # noqa: ANN001
    def list_networks(is_router_external=None, is_shared=None):  # noqa: ANN001, ANN202
        return [
            n
            for n in networks
            if (is_router_external is None or n.is_router_external == is_router_external)
            and (is_shared is None or n.is_shared == is_shared)
        ]

    return SimpleNamespace(
        image=SimpleNamespace(images=lambda: list(images)),
        compute=SimpleNamespace(get_flavor=lambda i: (flavors or {})[i]),
        network=SimpleNamespace(
            networks=list_networks, find_extension=lambda name: object() if router else None
        ),
    )


def test_usable_image_is_the_smallest_bootable_one_visible_to_tests() -> None:
    images = [
        _glance_image(id="big", name="big", size=900),
        _glance_image(id="queued", status="queued", size=1),
        _glance_image(id="aki", disk_format="aki", size=1),
        _glance_image(id="private", visibility="private", owner_id="someone", size=1),
        _glance_image(id="snap", properties={"image_type": "snapshot"}, size=1),
        _glance_image(id="tiny", name="tcup-tiny.raw", size=1),
        _glance_image(
            id="small", name="cirros", size=20, virtual_size=None, properties={"ssh_user": "c"}
        ),
    ]
    found = resources.usable_image(_conn(images), "mine")
    assert found.image_id == "small" and found.ssh_user == "c" and found.min_disk_gb == 1
    own = [_glance_image(id="own", visibility="private", owner_id="mine", min_disk=5)]
    assert resources.usable_image(_conn(own), "mine").min_disk_gb == 5
    assert resources.usable_image(_conn(images[1:6]), "mine") is None


def test_no_image_for_a_compute_target_is_a_preflight_error(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cloud_mod, "connection", lambda creds: _conn([]))
    info = make_cloud_info(services={"compute": "c", "image": "i"})
    test_plan = plan(_guideline(), "compute")
    with pytest.raises(PreflightError) as caught:
        run_mod._compute_setup(
            run_mod.RunOptions(guideline="g", out=tmp_path),
            make_credentials(),
            info,
            test_plan.tests,
            tmp_path,
            manifest_mod.Manifest(guideline="g", guideline_sha256="0", target="t"),
            io.StringIO(),
        )
    assert caught.value.exit_code == ExitCode.PREFLIGHT
    assert "need an image to boot servers" in caught.value.message
    assert "--image FILE" in caught.value.hint and "--image generate" in caught.value.hint


def test_without_a_way_to_reach_guests_the_required_tests_that_cannot_pass_are_named(
    monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cloud_mod, "connection", lambda creds: _conn([_glance_image()]))
    info = make_cloud_info(services={"compute": "c", "image": "i", "network": "n"})
    manifest = manifest_mod.Manifest(guideline="g", guideline_sha256="0", target="t")
    stdout = io.StringIO()
    setup = run_mod._compute_setup(
        run_mod.RunOptions(guideline=str(GUIDELINE), out=tmp_path),
        make_credentials(),
        info,
        plan(_guideline(), "compute").tests,
        tmp_path,
        manifest,
        stdout,
    )
    assert not setup.validation.enabled
    text = stdout.getvalue()
    assert "validation (SSH into guests) is off" in text and VCPUS in text and HOSTNAME in text
    assert manifest.validation["enabled"] is False
    assert sorted(manifest.validation["tests"]) == sorted([VCPUS, HOSTNAME])
    assert ("validation", "run_validation", "False") in setup.overrides("dynamic")


# ------------------------------------------------------------------- flavors


def test_a_flavor_too_small_for_the_image_is_a_preflight_error() -> None:
    image = resources.Image("ubuntu", "qcow2", min_disk_gb=3, min_ram_mb=512, image_id="i")
    flavors = {
        "1": SimpleNamespace(id="1", name="m1.nano", disk=1, ram=128),
        "2": SimpleNamespace(id="2", name="any", disk=0, ram=1024),
    }
    with pytest.raises(PreflightError) as caught:
        resources.check_flavors(_conn(flavors=flavors), image, ["1", "2"])
    message = caught.value.message
    assert message.startswith("flavor too small for the image 'ubuntu'")
    assert "'m1.nano' (1) has a 1 GiB root disk, the image needs 3 GiB" in message
    assert "128 MiB of RAM, the image needs 512 MiB" in message
    assert "'any'" not in message  # a 0 GiB root disk takes any image
    resources.check_flavors(_conn(flavors=flavors), image, ["2", "2"])  # big enough


def test_flavor_sizes_follow_the_image(tmp_path: Path) -> None:
    image = resources.Image("big", "qcow2", 4, 512, path=tmp_path / "big.qcow2")
    setup = resources.ComputeSetup(image, resources.Validation(False, "off"))
    assert setup.tempestconf_args(tmp_path) == [
        "--flavor-min-disk",
        "4",
        "--flavor-min-mem",
        "512",
        "--image",
        str(tmp_path / "big.qcow2"),
        "--image-disk-format",
        "qcow2",
    ]
    glance = resources.Image("cirros", "qcow2", 1, 128, image_id="abc")
    setup = resources.ComputeSetup(glance, resources.Validation(False, "off"))
    args = setup.tempestconf_args(tmp_path)
    assert args[:2] == ["--flavor-min-disk", "1"] and "--flavor-min-mem" not in args
    # the Glance image is used by id; the local tiny file keeps tempestconf from downloading it
    assert (tmp_path / "etc" / resources.TINY_IMAGE_NAME).is_file()
    assert ("compute", "image_ref", "abc") in setup.overrides("dynamic")


# -------------------------------------------------------- networks, validation


def _net(name: str, external: bool, shared: bool) -> SimpleNamespace:
    return SimpleNamespace(
        id=f"id-{name}",
        name=name,
        is_router_external=external,
        is_shared=shared,
        subnet_ids=["s"],
    )


def test_networks_and_the_connect_method() -> None:
    provider = resources.find_networks(_conn(networks=[_net("public", True, True)]))
    assert provider.external == ("id-public", "public") and provider.shared == "public"
    assert not provider.floating_ips
    routed = resources.find_networks(
        _conn(networks=[_net("ext", True, False), _net("shared", False, True)])
    )
    assert routed.floating_ips and routed.shared == "shared"
    none = resources.find_networks(_conn())
    needing = [VCPUS]
    image = resources.Image("c", "raw", 1, 128, ssh_user="debian", image_id="i")

    def decide(mode: str, networks, **kw):  # noqa: ANN001, ANN003, ANN202
        args = dict(has_compute=True, has_network=True, networks=networks, image=image)
        args.update(kw)
        return resources.decide_validation(mode, kw.pop("needing", needing), **args)

    floating = decide("auto", routed)
    assert floating.enabled and floating.connect_method == "floating"
    fixed = decide("auto", provider)
    assert (fixed.connect_method, fixed.network_for_ssh) == ("fixed", "public")
    overrides = dict(((s, k), v) for s, k, v in fixed.overrides())
    assert overrides[("validation", "run_validation")] == "True"
    assert overrides[("validation", "auth_method")] == "keypair"
    assert overrides[("validation", "image_ssh_user")] == "debian"
    assert overrides[("validation", "network_for_ssh")] == "public"
    assert not decide("auto", none).enabled
    assert decide("on", none).enabled and decide("on", none).connect_method == "fixed"
    assert not decide("off", provider).enabled
    assert not decide("auto", provider, has_compute=False).enabled
    assert not resources.decide_validation(
        "auto", [], has_compute=True, has_network=True, networks=provider, image=image
    ).enabled
    with pytest.raises(InputError, match="--validation"):
        decide("sometimes", provider)
    # pre-provisioned accounts boot on the shared network
    setup = resources.ComputeSetup(image, fixed, provider)
    assert ("compute", "fixed_network_name", "public") in setup.overrides("auto-accounts")
    # dynamic credentials: over the fixed address, every server boots where SSH reaches it
    dynamic = setup.overrides("dynamic")
    assert ("compute", "fixed_network_name", "public") in dynamic
    assert ("auth", "create_isolated_networks", "False") in dynamic
    routed_setup = resources.ComputeSetup(image, floating, routed)
    assert not any(k == "create_isolated_networks" for _, k, _ in routed_setup.overrides("dynamic"))
    assert not any(k == "fixed_network_name" for _, k, _ in routed_setup.overrides("dynamic"))


def test_tests_needing_validation_are_read_from_tempest() -> None:
    names = [t.name for t in plan(_guideline(), "platform").tests]
    assert sorted(resources.tests_needing_validation(names)) == sorted([VCPUS, HOSTNAME])
    assert resources.tests_needing_validation(["no.such.module.Class.test_x", "short"]) == []


# ------------------------------------------------------- after the tests ran


def _results():  # noqa: ANN202
    from tcup.results import RunResults, TestResult

    return RunResults(
        tests=(
            TestResult.create("a.B.test_ok[id-1]", "passed"),
            TestResult.create(
                "a.B.test_boot[id-2]",
                "failed",
                details={
                    "traceback": "tempest.lib.exceptions.Forbidden: Quota exceeded for "
                    "instances: Requested 1, but already used 10 of 10 instances"
                },
            ),
            TestResult.create(
                "setUpClass (a.C)",
                "failed",
                details={
                    "traceback": "OverLimit: VolumeLimitExceeded: Maximum number of "
                    "volumes allowed (10) exceeded for quota 'volumes'."
                },
            ),
            TestResult.create(
                "a.B.test_other[id-3]", "failed", details={"traceback": "No valid host was found"}
            ),
        )
    )


def test_tests_that_hit_a_quota_are_named() -> None:
    assert resources.quota_failures(_results()) == ["a.B.test_boot[id-2]", "setUpClass (a.C)"]


def test_nova_compute_down_after_the_run_makes_it_incomplete(monkeypatch) -> None:
    def services(*states: str):  # noqa: ANN202
        listed = [
            SimpleNamespace(binary="nova-compute", host=f"h{i}", state=s, status="enabled")
            for i, s in enumerate(states)
        ]
        listed.append(SimpleNamespace(binary="nova-scheduler", host="x", state="down"))
        return SimpleNamespace(compute=SimpleNamespace(services=lambda: listed))

    assert resources.compute_hosts_down(services("up", "down")) == ["h1"]

    def forbidden():  # noqa: ANN202
        raise PermissionError("403")

    assert (
        resources.compute_hosts_down(SimpleNamespace(compute=SimpleNamespace(services=forbidden)))
        is None
    )

    manifest = manifest_mod.Manifest(guideline="g", guideline_sha256="0", target="t")
    monkeypatch.setattr(cloud_mod, "connection", lambda creds: services("down"))
    stdout = io.StringIO()
    reason = run_mod._compute_broken(make_credentials(), _results(), manifest, stdout)
    assert reason == "nova-compute is down on h0: servers could not be built"
    assert manifest.quota_failures == ["a.B.test_boot[id-2]", "setUpClass (a.C)"]
    assert "2 test(s) failed on an exhausted quota" in stdout.getvalue()
    monkeypatch.setattr(cloud_mod, "connection", lambda creds: services("up"))
    assert run_mod._compute_broken(make_credentials(), _results(), manifest, stdout) is None
