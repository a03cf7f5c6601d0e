"""What compute tests need from a cloud: an image, flavors big enough for it, networks, SSH.

python-tempestconf finds or makes flavors and networks, but it downloads
cirros when it is given no image, never checks that a flavor can hold the
image, and leaves Tempest's validation (SSH into guests) to the defaults.
This module decides those things before tempestconf runs, from what the
cloud has (through openstacksdk) and what the user asked for:

* the image: a local file (``--image FILE``, uploaded by tempestconf; its
  disk format read from its first bytes), a tiny raw disk tcup writes itself
  (``--image generate``: for clouds with a fake hypervisor, such as the
  reference cloud), or an image already in Glance that Nova can boot (active,
  public, shared with or owned by the project, a disk format Nova accepts);
  none of these for a compute target is a pre-flight error;
* the flavors: at least as big as the image needs (``--flavor-min-disk``,
  ``--flavor-min-mem``), checked again once tempestconf chose them;
* the networks: a shared network that test accounts without their own
  network can boot servers on (``[compute] fixed_network_name``), and the
  network validation reaches guests through;
* validation (``--validation on|off|auto``): on when the plan has tests that
  need SSH into a guest and the cloud has somewhere to reach them, with the
  connect method that cloud allows; when it is off, the required tests that
  therefore cannot pass are named before any test runs.
"""

from __future__ import annotations

import ast
import importlib.util
import logging
import math
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcup.errors import InputError, PreflightError

if TYPE_CHECKING:
    from tcup.results import RunResults

LOG = logging.getLogger(__name__)

GIB = 1024**3
#: what ``--image`` takes instead of a file to write a tiny raw disk
GENERATE = "generate"
TINY_IMAGE_NAME = "tcup-tiny.raw"
TINY_IMAGE_SIZE = 1024 * 1024
#: names of the placeholder images tcup (now and in earlier versions) had tempestconf upload
NOT_BOOTABLE = (TINY_IMAGE_NAME, "tcup-image.raw")
DEFAULT_MIN_RAM_MB = 128  # python-tempestconf's m1.nano
#: disk formats Nova's libvirt, VMware, Hyper-V and Xen drivers can boot between them
NOVA_DISK_FORMATS = frozenset({"raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx", "ploop", "iso", "ami"})
DEFAULT_SSH_USER = "cirros"
#: image properties that name the user to log in as, most specific first
SSH_USER_PROPERTIES = ("ssh_user", "os_admin_user", "default_user")
VALIDATION_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class Image:
    """The image compute tests boot."""

    name: str
    disk_format: str
    min_disk_gb: int  # the smallest root disk that holds it
    min_ram_mb: int
    ssh_user: str | None = None
    path: Path | None = None  # a local file tempestconf uploads
    image_id: str | None = None  # an image already in Glance

    def describe(self) -> str:
        where = f"file {self.path}" if self.path else f"Glance image {self.image_id}"
        return f"'{self.name}' ({where}, {self.disk_format})"


# --------------------------------------------------------------------- image


def disk_format(path: Path) -> str:
    """The disk format of an image file, from its magic bytes (raw when none matches)."""
    with open(path, "rb") as handle:
        head = handle.read(64 * 1024)
        handle.seek(0, 2)
        size = handle.tell()
        tail = b""
        if size >= 512:
            handle.seek(size - 512)
            tail = handle.read(512)
    if head.startswith(b"QFI\xfb"):
        return "qcow2"
    if head.startswith(b"KDMV") or head.startswith(b"# Disk DescriptorFile"):
        return "vmdk"
    if head.startswith(b"vhdxfile"):
        return "vhdx"
    if head.startswith(b"conectix") or tail.startswith(b"conectix"):
        return "vhd"
    if len(head) >= 0x48 and head[0x40:0x44] == b"\x7f\x10\xda\xbe":
        return "vdi"
    if len(head) >= 0x8006 and head[0x8001:0x8006] == b"CD001":
        return "iso"
    return "raw"


def _virtual_size(path: Path, fmt: str) -> int:
    """The disk size the image expands to (qcow2 header), else its file size."""
    size = path.stat().st_size
    if fmt == "qcow2":
        with open(path, "rb") as handle:
            header = handle.read(32)
        if len(header) >= 32:
            return max(size, struct.unpack(">Q", header[24:32])[0])
    return size


def _gb(size_bytes: int) -> int:
    return max(1, math.ceil(size_bytes / GIB))


def write_tiny_image(path: Path) -> Path:
    """A 1 MiB raw disk with an MBR holding one Linux partition: valid, tiny, local."""
    if path.is_file() and path.stat().st_size == TINY_IMAGE_SIZE:
        return path
    sectors = TINY_IMAGE_SIZE // 512
    mbr = bytearray(512)
    # partition 1: not bootable, type 0x83 (Linux), from sector 1 to the end (LBA fields)
    entry = struct.pack("<B3sB3sII", 0, b"\x00\x02\x00", 0x83, b"\xfe\xff\xff", 1, sectors - 1)
    mbr[446 : 446 + 16] = entry
    mbr[510:512] = b"\x55\xaa"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as handle:
        handle.write(mbr)
        handle.truncate(TINY_IMAGE_SIZE)
    tmp.replace(path)
    return path


def local_image(spec: str | Path, workspace: Path, ssh_user: str | None = None) -> Image:
    """``--image FILE`` or ``--image generate`` as an :class:`Image` to upload."""
    if str(spec) == GENERATE:
        path = write_tiny_image(workspace / TINY_IMAGE_NAME)
    else:
        path = Path(spec)
        if not path.is_file():
            raise InputError(
                f"image file '{spec}' does not exist",
                hint=f"check the path given to --image (or --image {GENERATE} for a tiny "
                "raw disk, enough for a cloud with a fake hypervisor)",
            )
        path = path.resolve()
    fmt = disk_format(path)
    return Image(
        name=path.name,
        disk_format=fmt,
        min_disk_gb=_gb(_virtual_size(path, fmt)),
        min_ram_mb=DEFAULT_MIN_RAM_MB,
        ssh_user=ssh_user,
        path=path,
    )


def usable_image(conn: Any, project_id: str | None, ssh_user: str | None = None) -> Image | None:
    """The smallest image in Glance that compute tests can boot, or None.

    Active, visible to every test project (public, or community) or shared
    with/owned by this project, in a disk format Nova accepts, not a snapshot
    or an image tempestconf uploaded for an earlier run.
    """
    candidates = []
    for image in conn.image.images():
        props = dict(getattr(image, "properties", None) or {})
        if image.status != "active" or (image.disk_format or "") not in NOVA_DISK_FORMATS:
            continue
        if image.visibility not in ("public", "community") and image.owner_id != project_id:
            continue
        if props.get("image_type") == "snapshot" or (image.name or "").startswith(NOT_BOOTABLE):
            continue
        if (image.container_format or "bare") not in ("bare", "ovf"):
            continue
        candidates.append(image)
    if not candidates:
        return None
    best = min(candidates, key=lambda i: (i.visibility != "public", i.size or 0, i.name or ""))
    props = dict(getattr(best, "properties", None) or {})
    user = ssh_user or next((props[p] for p in SSH_USER_PROPERTIES if props.get(p)), None)
    size = int(getattr(best, "virtual_size", None) or best.size or 0)
    return Image(
        name=best.name or best.id,
        disk_format=best.disk_format,
        min_disk_gb=max(int(best.min_disk or 0), _gb(size)),
        min_ram_mb=max(int(best.min_ram or 0), DEFAULT_MIN_RAM_MB),
        ssh_user=user,
        image_id=best.id,
    )


def no_image_error(auth_url: str) -> PreflightError:
    return PreflightError(
        f"the compute tests need an image to boot servers, and the image service of "
        f"{auth_url} has none they can use (active, public or shared with your project, "
        f"disk format one of {', '.join(sorted(NOVA_DISK_FORMATS))})",
        hint=f"give a bootable image file with --image FILE (tcup uploads it), or --image "
        f"{GENERATE} for a tiny raw disk on a cloud with a fake hypervisor",
    )


# ------------------------------------------------------------------- flavors


@dataclass(frozen=True)
class Flavor:
    flavor_id: str
    name: str
    disk_gb: int
    ram_mb: int


def flavor_problems(image: Image, flavors: Iterable[Flavor]) -> list[str]:
    """Why each flavor cannot boot the image (a root disk of 0 GiB takes any image)."""
    problems = []
    for flavor in flavors:
        if flavor.disk_gb and flavor.disk_gb < image.min_disk_gb:
            problems.append(
                f"flavor '{flavor.name}' ({flavor.flavor_id}) has a {flavor.disk_gb} GiB root "
                f"disk, the image needs {image.min_disk_gb} GiB"
            )
        if flavor.ram_mb < image.min_ram_mb:
            problems.append(
                f"flavor '{flavor.name}' ({flavor.flavor_id}) has {flavor.ram_mb} MiB of RAM, "
                f"the image needs {image.min_ram_mb} MiB"
            )
    return problems


def check_flavors(conn: Any, image: Image, flavor_ids: Sequence[str]) -> None:
    """Pre-flight: the flavors tempestconf chose must hold the image."""
    flavors = []
    for flavor_id in dict.fromkeys(f for f in flavor_ids if f):
        found = conn.compute.get_flavor(flavor_id)
        flavors.append(Flavor(found.id, found.name, int(found.disk or 0), int(found.ram or 0)))
    problems = flavor_problems(image, flavors)
    if problems:
        raise PreflightError(
            f"flavor too small for the image {image.describe()}: " + "; ".join(problems),
            hint="let tcup make flavors (admin credentials), or name bigger ones in "
            "--tempest-overrides ([compute] flavor_ref, flavor_ref_alt), or use a smaller image",
        )


# ------------------------------------------------------------------ networks


@dataclass(frozen=True)
class Networks:
    """The networks that matter to compute tests."""

    external: tuple[str, str] | None = None  # (id, name) of an external network with a subnet
    external_shared: bool = False  # servers can boot on it directly (a provider network)
    shared: str | None = None  # name of a shared network any test project can boot on
    floating_ips: bool = False  # the router extension exists next to an external network


def find_networks(conn: Any) -> Networks:
    externals = [n for n in conn.network.networks(is_router_external=True) if n.subnet_ids]
    shared = [n for n in conn.network.networks(is_shared=True) if n.subnet_ids]
    try:
        routers = conn.network.find_extension("router") is not None
    except Exception:  # noqa: BLE001 - an extension listing refused only means "unknown"
        routers = False
    external = externals[0] if externals else None
    return Networks(
        external=(external.id, external.name) if external else None,
        external_shared=bool(external and external.is_shared),
        shared=(shared[0].name if shared else None),
        floating_ips=bool(external and routers and not external.is_shared),
    )


# ---------------------------------------------------------------- validation


@dataclass(frozen=True)
class Validation:
    """Tempest's ``[validation]`` for this run, and why."""

    enabled: bool
    reason: str
    connect_method: str | None = None  # "floating" or "fixed"
    network_for_ssh: str | None = None
    ssh_user: str | None = None
    needing: tuple[str, ...] = field(default=())  # planned tests that need it

    def overrides(self) -> list[tuple[str, str, str]]:
        if not self.enabled:
            return [("validation", "run_validation", "False")]
        values = [
            ("validation", "run_validation", "True"),
            ("validation", "auth_method", "keypair"),
            ("validation", "connect_method", self.connect_method or "floating"),
            ("validation", "ip_version_for_ssh", "4"),
            ("validation", "security_group", "True"),
            ("validation", "security_group_rules", "True"),
            ("validation", "image_ssh_user", self.ssh_user or DEFAULT_SSH_USER),
            ("validation", "image_alt_ssh_user", self.ssh_user or DEFAULT_SSH_USER),
        ]
        if self.network_for_ssh:
            values.append(("validation", "network_for_ssh", self.network_for_ssh))
        return values


def decide_validation(
    mode: str,
    needing: Sequence[str],
    *,
    has_compute: bool,
    has_network: bool,
    networks: Networks,
    image: Image | None,
) -> Validation:
    """``--validation on|off|auto`` against what the cloud can do."""
    if mode not in VALIDATION_MODES:
        raise InputError(f"--validation must be one of {', '.join(VALIDATION_MODES)}, not '{mode}'")
    needing = tuple(needing)
    user = image.ssh_user if image else None
    if mode == "off":
        return Validation(False, "turned off with --validation off", needing=needing)
    if not has_compute:
        return Validation(False, "the cloud has no compute service", needing=needing)
    if mode == "auto" and not needing:
        return Validation(False, "no planned test needs SSH into a guest", needing=needing)
    if networks.floating_ips and has_network:
        return Validation(
            True, "floating IPs on the external network", "floating", None, user, needing
        )
    reachable = networks.external[1] if networks.external and networks.external_shared else None
    if reachable:
        return Validation(
            True,
            f"fixed IPs on the shared external network '{reachable}'",
            "fixed",
            reachable,
            user,
            needing,
        )
    if mode == "on":
        return Validation(
            True,
            "turned on with --validation on (fixed IPs)",
            "fixed",
            networks.shared,
            user,
            needing,
        )
    return Validation(
        False,
        "the cloud has no external network to reach guests through (no floating IPs, "
        "no shared provider network)",
        needing=needing,
    )


def tests_needing_validation(test_names: Iterable[str]) -> list[str]:
    """Planned tests that Tempest skips unless ``[validation] run_validation`` is on.

    Read from Tempest's source (never imported here): a ``skipUnless`` /
    ``skipIf`` decorator on the test that names ``run_validation``, or a
    ``skip_checks`` of its class that raises a skip without it.
    """
    found = []
    modules: dict[str, Mapping[str, ast.ClassDef] | None] = {}
    for name in test_names:
        module, cls, method = _split_test(name)
        if module is None:
            continue
        if module not in modules:
            modules[module] = _classes_of(module)
        classes = modules[module]
        if classes and _skips_without_validation(classes, cls, method):
            found.append(name)
    return found


def _split_test(name: str) -> tuple[str | None, str, str]:
    parts = name.split("[", 1)[0].split(".")
    if len(parts) < 3:
        return None, "", ""
    return ".".join(parts[:-2]), parts[-2], parts[-1]


def _classes_of(module: str) -> Mapping[str, ast.ClassDef] | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _skips_without_validation(classes: Mapping[str, ast.ClassDef], cls: str, method: str) -> bool:
    seen: set[str] = set()
    current: str | None = cls
    while current and current in classes and current not in seen:
        seen.add(current)
        node = classes[current]
        for item in node.body:
            if not isinstance(item, ast.FunctionDef):
                continue
            if item.name == method and any(
                "run_validation" in ast.unparse(d) and "skip" in ast.unparse(d)
                for d in item.decorator_list
            ):
                return True
            if item.name == "skip_checks" and _raises_skip_on_validation(item):
                return True
        bases = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
        current = bases[0] if bases else None
    return False


def _raises_skip_on_validation(function: ast.FunctionDef) -> bool:
    for node in ast.walk(function):
        if (
            isinstance(node, ast.If)
            and "run_validation" in ast.unparse(node.test)
            and any(isinstance(n, ast.Raise) and "skip" in ast.unparse(n) for n in ast.walk(node))
        ):
            return True
    return False


@dataclass(frozen=True)
class ComputeSetup:
    """Everything ``configure`` needs for a plan with compute tests."""

    image: Image
    validation: Validation
    networks: Networks = field(default_factory=Networks)

    def tempestconf_args(self, workspace: Path) -> list[str]:
        """The image (a file to upload, or the tiny one beside a Glance image) and flavor sizes."""
        image = self.image
        args = ["--flavor-min-disk", str(image.min_disk_gb)]
        if image.min_ram_mb != DEFAULT_MIN_RAM_MB:
            args += ["--flavor-min-mem", str(image.min_ram_mb)]
        if image.path is not None:
            return [*args, "--image", str(image.path), "--image-disk-format", image.disk_format]
        # tempestconf copies the Glance image to etc/<file name> unless that file exists:
        # hand it the tiny local one, so nothing is downloaded
        tiny = write_tiny_image(workspace / TINY_IMAGE_NAME)
        (workspace / "etc").mkdir(exist_ok=True)
        write_tiny_image(workspace / "etc" / TINY_IMAGE_NAME)
        return [*args, "--image", str(tiny), "--image-disk-format", "raw"]

    def overrides(self, mode: str) -> list[tuple[str, str, str]]:
        values = []
        if self.image.image_id:
            values += [
                ("compute", "image_ref", self.image.image_id),
                ("compute", "image_ref_alt", self.image.image_id),
            ]
        validation = self.validation
        ssh_on_fixed = validation.enabled and validation.connect_method == "fixed"
        if self.networks.shared and (mode in ("accounts", "auto-accounts") or ssh_on_fixed):
            # pre-provisioned accounts get no network of their own: boot on the shared one
            values.append(("compute", "fixed_network_name", self.networks.shared))
        if ssh_on_fixed and mode == "dynamic":
            # Tempest's per-project networks would hold the servers where SSH over the
            # fixed address (network_for_ssh) cannot find them: boot on that network
            values.append(("auth", "create_isolated_networks", "False"))
        return values + validation.overrides()


# ------------------------------------------------------- after the tests ran

#: what Nova, Cinder and Neutron say when a project's quota is used up
QUOTA_MESSAGE = re.compile(
    r"quota exceeded|quotaexceeded|overquota|over quota|quota .{0,40}(exceeded|exhausted)"
    r"|exceeded .{0,40}quota|maximum number of \w+ allowed",
    re.IGNORECASE,
)


def quota_failures(results: RunResults) -> list[str]:
    """Failed tests (and class fixtures) whose failure detail says a quota was exhausted."""
    found = []
    for test in results.tests:
        if test.status not in ("failed", "uxsuccess"):
            continue
        text = " ".join([test.reason or "", *test.details.values()])
        if QUOTA_MESSAGE.search(text):
            found.append(test.test_id)
    return found


def compute_hosts_down(conn: Any) -> list[str] | None:
    """Hosts whose enabled nova-compute is down; None when the services cannot be listed."""
    try:
        services = [s for s in conn.compute.services() if s.binary == "nova-compute"]
    except Exception as exc:  # noqa: BLE001 - listing services is admin-only by default
        LOG.info("cannot list compute services: %s", exc)
        return None
    return sorted(
        s.host for s in services if s.state == "down" and (s.status or "enabled") == "enabled"
    )
