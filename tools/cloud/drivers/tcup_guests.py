"""Guests that answer SSH, for the reference cloud's fake hypervisor.

Nova's fake virt driver boots nothing, so Tempest's validation tests (log in to
the server, read its hostname, count its vCPUs and disks) have nothing to talk
to. This module gives each server a small guest made only of kernel
namespaces and one sshd:

* a network namespace ``tcupg-<id>`` holding one end of a veth pair, named
  ``eth0``, with the server's MAC and fixed IP; the other end (``tg<id>``)
  stays in the host's namespace with a /32 route to that IP, so Tempest on
  the host (or in a container run with ``--network host``) reaches it;
* mount, UTS, IPC, PID and time namespaces in which the hostname is the
  server's, ``/proc/cpuinfo`` lists exactly the flavor's vCPUs, ``/proc/uptime``
  starts at zero on every (re)boot, ``/etc/passwd`` holds the SSH user whose
  ``authorized_keys`` has the keypair's public key, and ``lsblk`` lists the
  root disk plus the volumes Nova attached (a copy of this module, see
  ``lsblk()``, reading a state file);
* Dropbear listening on port 22 of the fixed IP, as PID 1 of the guest.

The guest shares the host's file system (read-only in practice: its user owns
nothing outside its home, and ``/tmp``, ``/run``, ``/var/tmp`` and ``/dev/shm``
are private tmpfs). Only the standard library and a few commands are used:
``ip`` (iproute2), ``nsenter`` and ``unshare`` (util-linux), ``dropbear`` and
``dropbearkey`` (Debian's ``dropbear-bin``, which ``tools/cloud/up`` and
``tools/cloud/install-guest-sshd`` install). Everything needs root.

The fixed IP must lie in a documentation network (TEST-NET-2/3 by default), so
a guest can never take over a real address from the host.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

NETNS_PREFIX = "tcupg-"
HOST_IF_PREFIX = "tg"
NETNS_DIR = Path("/run/netns")
# The guest's own directory, as the guest sees it (a bind mount on its /run).
GUEST_META = "/run/tcup-guest"
# RFC 5737 documentation networks; TEST-NET-1 (192.0.2.0/24) is left out because
# development machines and CI runners often use it for their own interfaces.
DEFAULT_NETWORKS = (
    ipaddress.IPv4Network("198.51.100.0/24"),
    ipaddress.IPv4Network("203.0.113.0/24"),
)
GUEST_UID = 30000  # no host user owns files with this uid
START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
REQUIRED_COMMANDS = ("ip", "nsenter", "unshare", "dropbear", "dropbearkey")

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,64}}$){_LABEL}(?:\.{_LABEL})*$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_MAC = re.compile(r"^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$")
_DEVICE = re.compile(r"^(?:/dev/)?([a-z]+[a-z0-9]*)$")
_PUBLIC_KEY = re.compile(
    r"^(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp(?:256|384|521)|sk-[a-z0-9@.-]+)"
    r" [A-Za-z0-9+/]+={0,3}(?: [ -~]*)?$"
)

# Columns of the guest's lsblk (see lsblk below).
LSBLK_DEFAULT = ("NAME", "MAJ:MIN", "RM", "SIZE", "RO", "TYPE", "MOUNTPOINTS")
LSBLK_FS = ("NAME", "FSTYPE", "FSVER", "LABEL", "UUID", "FSAVAIL", "FSUSE%", "MOUNTPOINTS")
LSBLK_KNOWN = {*LSBLK_DEFAULT, *LSBLK_FS, "MOUNTPOINT", "KNAME", "PATH", "MODEL", "SERIAL"}
LSBLK_RIGHT = {"MAJ:MIN", "RM", "SIZE", "RO"}

# Run by /bin/sh as PID 1 of the guest's PID namespace, inside its new mount, UTS,
# IPC and time namespaces; it ends by becoming the sshd.
BOOT_SCRIPT = """\
set -eu
cd {directory}
# The guest directory stays reachable through the working directory even when
# a tmpfs below hides its path (state directories under /run or /tmp).
mount -t tmpfs -o mode=0755,size=4m tmpfs /run
mkdir {meta}
mount --bind . {meta}
for dir in /tmp /var/tmp /dev/shm; do
    mount -t tmpfs -o mode=1777,size=64m tmpfs "$dir"
done
for file in passwd group shadow hostname hosts; do
    mount --bind {meta}/etc/$file /etc/$file
done
mount --bind {meta}/home /home
mount --bind {meta}/cpuinfo /proc/cpuinfo
mount --bind {meta}/lsblk {lsblk}
echo {hostname} > /proc/sys/kernel/hostname
echo "0 2147483647" > /proc/sys/net/ipv4/ping_group_range
exec {dropbear} -F -E -w -j -k -m -p {address}:22 \\
    -r {meta}/ssh_host_ed25519_key -P /run/dropbear.pid
"""


class GuestError(RuntimeError):
    """A guest could not be made, changed or removed; the message says why."""


@dataclass(frozen=True)
class Guest:
    """One server's guest: where it is and how to log in."""

    server_id: str
    hostname: str
    address: str
    prefixlen: int
    gateway: str | None
    mac: str
    vcpus: int
    ssh_user: str
    root_gb: int
    netns: str
    host_interface: str
    directory: Path

    def to_json(self) -> dict:
        data = asdict(self)
        data["directory"] = str(self.directory)
        return data

    @classmethod
    def from_json(cls, data: dict) -> Guest:
        fields = dict(data)
        fields["directory"] = Path(fields["directory"])
        return cls(**fields)


# Launcher processes this process started, by netns name, so that they are
# reaped (PID 1 of some machines and containers never reaps orphans).
_launchers: dict[str, subprocess.Popen] = {}


def short_id(server_id: str) -> str:
    """11 hex characters naming a server's namespace and interface."""
    try:
        return uuid.UUID(server_id).hex[:11]
    except ValueError:
        import hashlib

        return hashlib.sha256(server_id.encode()).hexdigest()[:11]


def names(server_id: str) -> tuple[str, str]:
    """(netns name, host interface name) of a server's guest."""
    short = short_id(server_id)
    return NETNS_PREFIX + short, HOST_IF_PREFIX + short


def guest_dir(server_id: str, state_dir: str | os.PathLike) -> Path:
    return Path(state_dir) / short_id(server_id)


def create_guest(
    server_id: str,
    hostname: str,
    ip_cidr: str,
    gateway: str | None,
    mac: str | None,
    public_keys: str | Iterable[str] | None,
    vcpus: int,
    ssh_user: str,
    state_dir: str | os.PathLike,
    *,
    root_gb: int = 1,
    allowed_networks: Sequence[ipaddress.IPv4Network] = DEFAULT_NETWORKS,
    timeout: float = START_TIMEOUT,
) -> Guest:
    """Make and boot the guest of a server; return when its sshd listens.

    A guest that already exists for ``server_id`` is destroyed first, so this
    is safe to call again (Nova's rebuild, a retried spawn).
    """
    server_id = _check_server_id(server_id)
    hostname = _check_hostname(hostname)
    interface = _check_address(ip_cidr, allowed_networks)
    gateway = _check_gateway(gateway, interface)
    mac = _check_mac(mac, server_id)
    keys = _check_keys(public_keys)
    vcpus = _check_count("vcpus", vcpus, 1, 1024)
    root_gb = _check_count("root_gb", max(root_gb or 1, 1), 1, 1 << 20)
    ssh_user = _check_user(ssh_user)
    check_host()

    netns, host_if = names(server_id)
    directory = guest_dir(server_id, state_dir)
    guest = Guest(
        server_id=server_id,
        hostname=hostname,
        address=str(interface.ip),
        prefixlen=interface.network.prefixlen,
        gateway=gateway,
        mac=mac,
        vcpus=vcpus,
        ssh_user=ssh_user,
        root_gb=root_gb,
        netns=netns,
        host_interface=host_if,
        directory=directory,
    )
    destroy_guest(server_id, state_dir)
    _check_address_free(interface.ip)
    try:
        _write_files(guest, keys)
        _plumb(guest)
        _boot(guest, timeout)
    except BaseException:
        with contextlib.suppress(Exception):
            destroy_guest(server_id, state_dir)
        raise
    return guest


def destroy_guest(server_id: str, state_dir: str | os.PathLike) -> bool:
    """Remove a server's guest: processes, namespaces, veth pair, route, files.

    Returns whether anything was there. Calling it again does nothing.
    """
    netns, host_if = names(server_id)
    directory = guest_dir(server_id, state_dir)
    found = _kill(netns)
    if Path("/sys/class/net", host_if).exists():
        found = True
        _ip("link", "del", host_if, missing_ok=True)
    if (NETNS_DIR / netns).exists():
        found = True
        _ip("netns", "del", netns, missing_ok=True)
    if directory.exists():
        found = True
        shutil.rmtree(directory)
    return found


def stop_guest(server_id: str, state_dir: str | os.PathLike) -> None:
    """Power the guest off: its processes end; network and files stay."""
    _load(server_id, state_dir)
    netns, _ = names(server_id)
    _kill(netns)


def start_guest(
    server_id: str, state_dir: str | os.PathLike, *, timeout: float = START_TIMEOUT
) -> Guest:
    """Power the guest on (again): a fresh boot, uptime from zero. No-op if running."""
    guest = _load(server_id, state_dir)
    if not _pids(guest.netns):
        _boot(guest, timeout)
    return guest


def reboot_guest(
    server_id: str, state_dir: str | os.PathLike, *, timeout: float = START_TIMEOUT
) -> Guest:
    """Stop and start the guest: sessions end, the boot time moves on."""
    stop_guest(server_id, state_dir)
    return start_guest(server_id, state_dir, timeout=timeout)


def attach_disk(
    server_id: str, device: str, state_dir: str | os.PathLike, *, size_gb: int = 1
) -> bool:
    """Show a disk named after ``device`` (``/dev/vdb``) in the guest's lsblk.

    Returns False if it was already there (nothing changes then).
    """
    name = _check_device(device)
    size = _check_count("size_gb", max(size_gb or 1, 1), 1, 1 << 20) << 30
    guest = _load(server_id, state_dir)
    with _disks(guest) as disks:
        if name in disks:
            return False
        disks[name] = size
    return True


def detach_disk(server_id: str, device: str, state_dir: str | os.PathLike) -> bool:
    """Remove the disk from the guest's lsblk. False if it was not there or no guest."""
    name = _check_device(device)
    if not has_guest(server_id, state_dir):
        return False
    guest = _load(server_id, state_dir)
    with _disks(guest) as disks:
        return disks.pop(name, None) is not None


def has_guest(server_id: str, state_dir: str | os.PathLike) -> bool:
    """Whether ``state_dir`` records a guest for the server (running or stopped)."""
    return (guest_dir(server_id, state_dir) / "guest.json").is_file()


def host_public_key(server_id: str, state_dir: str | os.PathLike) -> str:
    """The guest's SSH host key as an OpenSSH public key line (``ssh-ed25519 AAAA...``)."""
    guest = _load(server_id, state_dir)
    key = guest.directory / "ssh_host_ed25519_key"
    out = _run(["dropbearkey", "-y", "-f", str(key)], "read the guest's host key")
    for line in out.splitlines():
        if line.startswith("ssh-ed25519 "):
            return " ".join(line.split()[:2])
    raise GuestError(f"no host key for server {server_id} in {key}")


def list_guests(state_dir: str | os.PathLike) -> list[Guest]:
    """The guests recorded in ``state_dir``."""
    guests = []
    root = Path(state_dir)
    if root.is_dir():
        for record in sorted(root.glob("*/guest.json")):
            with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
                guests.append(Guest.from_json(json.loads(record.read_text())))
    return guests


def cleanup_all(state_dir: str | os.PathLike) -> list[str]:
    """Destroy every guest recorded in ``state_dir`` (for cloud-down).

    Only guests of this state directory are touched: a test's guests or another
    cloud's live elsewhere. Returns the server ids removed.
    """
    removed = []
    for guest in list_guests(state_dir):
        destroy_guest(guest.server_id, state_dir)
        removed.append(guest.server_id)
    root = Path(state_dir)
    if root.is_dir():
        for leftover in root.iterdir():
            if leftover.is_dir() and re.fullmatch(r"[0-9a-f]{11}", leftover.name):
                # A creation that died before writing its record.
                _kill(NETNS_PREFIX + leftover.name)
                _ip("link", "del", HOST_IF_PREFIX + leftover.name, missing_ok=True)
                _ip("netns", "del", NETNS_PREFIX + leftover.name, missing_ok=True)
                shutil.rmtree(leftover)
    return removed


def cpuinfo(vcpus: int, host_cpuinfo: str | None = None) -> str:
    """/proc/cpuinfo of a guest with ``vcpus`` processors, modelled on the host's first."""
    if host_cpuinfo is None:
        host_cpuinfo = Path("/proc/cpuinfo").read_text()
    first = host_cpuinfo.strip().split("\n\n")[0].splitlines()
    blocks = []
    for index in range(vcpus):
        lines = []
        for line in first:
            key, sep, _ = line.partition(":")
            field = key.strip()
            if not sep:
                lines.append(line)
            elif field in ("processor", "core id", "apicid", "initial apicid"):
                lines.append(f"{key}: {index}")
            elif field in ("siblings", "cpu cores"):
                lines.append(f"{key}: {vcpus}")
            elif field == "physical id":
                lines.append(f"{key}: 0")
            else:
                lines.append(line)
        if not any(line.partition(":")[0].strip() == "processor" for line in lines):
            lines.insert(0, f"processor\t: {index}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n\n"


# -- checks ------------------------------------------------------------------


def _check_server_id(server_id: str) -> str:
    if not isinstance(server_id, str) or not server_id.strip():
        raise GuestError("server id is empty")
    return server_id


def _check_hostname(hostname: str) -> str:
    if not isinstance(hostname, str) or not _HOSTNAME.match(hostname):
        raise GuestError(
            f"hostname {hostname!r} is not a valid host name "
            "(letters, digits, '-' and '.', at most 64 characters)"
        )
    return hostname


def _check_address(
    ip_cidr: str, allowed: Sequence[ipaddress.IPv4Network]
) -> ipaddress.IPv4Interface:
    try:
        interface = ipaddress.ip_interface(ip_cidr)
    except ValueError:
        raise GuestError(f"fixed IP {ip_cidr!r} is not an address with a prefix length") from None
    if not isinstance(interface, ipaddress.IPv4Interface):
        raise GuestError(f"fixed IP {ip_cidr} is not IPv4; guests take IPv4 addresses only")
    if "/" not in str(ip_cidr) or interface.network.prefixlen > 30:
        raise GuestError(f"fixed IP {ip_cidr} needs the subnet's prefix length, e.g. /24")
    if interface.ip in (interface.network.network_address, interface.network.broadcast_address):
        raise GuestError(f"fixed IP {ip_cidr} is the subnet's network or broadcast address")
    if not any(interface.ip in net for net in allowed):
        nets = ", ".join(str(net) for net in allowed)
        raise GuestError(
            f"fixed IP {interface.ip} is outside the networks guests may use ({nets}); "
            "give the cloud's subnet a documentation range"
        )
    return interface


def _check_gateway(gateway: str | None, interface: ipaddress.IPv4Interface) -> str | None:
    if gateway in (None, ""):
        return None
    try:
        address = ipaddress.IPv4Address(gateway)
    except ValueError:
        raise GuestError(f"gateway {gateway!r} is not an IPv4 address") from None
    if address not in interface.network or address == interface.ip:
        raise GuestError(f"gateway {address} is not another address of {interface.network}")
    return str(address)


def _check_mac(mac: str | None, server_id: str) -> str:
    if not mac:
        import hashlib

        digest = hashlib.sha256(server_id.encode()).digest()
        return "fa:16:3e:" + ":".join(f"{b:02x}" for b in digest[:3])
    mac = str(mac).lower()
    if not _MAC.match(mac) or int(mac[:2], 16) & 1:
        raise GuestError(f"MAC address {mac!r} is not a unicast MAC like fa:16:3e:12:34:56")
    return mac


def _check_keys(public_keys: str | Iterable[str] | None) -> list[str]:
    if public_keys is None:
        return []
    lines: list[str] = []
    items = [public_keys] if isinstance(public_keys, str) else list(public_keys)
    for item in items:
        lines.extend(line.strip() for line in str(item).splitlines() if line.strip())
    for number, line in enumerate(lines, 1):
        if not _PUBLIC_KEY.match(line):
            raise GuestError(
                f"public key {number} is not an OpenSSH public key line ('ssh-rsa AAAA... comment')"
            )
    return lines


def _check_count(what: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise GuestError(f"{what} must be a whole number from {low} to {high}, not {value!r}")
    return value


def _check_user(user: str) -> str:
    if not isinstance(user, str) or not _USER.match(user) or user in ("root", "nobody"):
        raise GuestError(
            f"SSH user {user!r} is not a valid user name for a guest "
            "(lower-case letters, digits, '_' and '-'; not root)"
        )
    return user


def _check_device(device: str) -> str:
    match = _DEVICE.match(str(device))
    if not match:
        raise GuestError(f"device {device!r} is not a disk name like /dev/vdb")
    return match.group(1)


def check_host() -> None:
    """Raise GuestError unless this process can make guests (root, commands present)."""
    if os.geteuid() != 0:
        raise GuestError("making a guest needs root (network namespaces, mounts)")
    missing = [name for name in REQUIRED_COMMANDS if not shutil.which(name)]
    if missing:
        raise GuestError(
            f"missing commands for guests: {', '.join(missing)}; run tools/cloud/install-guest-sshd"
        )


def _check_address_free(address: ipaddress.IPv4Address) -> None:
    """Refuse an address the host owns, routes elsewhere, or reaches on a real link."""
    routes = json.loads(_ip("-j", "-4", "route", "show", "table", "all") or "[]")
    for route in routes:
        dst = route.get("dst", "")
        dev = route.get("dev", "")
        ours = dev.startswith(HOST_IF_PREFIX) and len(dev) == len(HOST_IF_PREFIX) + 11
        if dst in ("default", "") or ours:
            if dst == f"{address}" or dst == f"{address}/32":
                raise GuestError(f"fixed IP {address} is already used by another guest ({dev})")
            continue
        try:
            network = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
        except ValueError:
            continue
        if network.version == 4 and address in network and route.get("type") != "broadcast":
            raise GuestError(
                f"fixed IP {address} is already reachable on this host through {dev or dst} "
                f"({dst}); choose a subnet the host does not use"
            )


# -- making a guest ------------------------------------------------------------


def _write_files(guest: Guest, keys: list[str]) -> None:
    directory = guest.directory
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)  # noqa: S103 - the guest's user reads its files
    etc = directory / "etc"
    etc.mkdir(exist_ok=True)
    user, uid = guest.ssh_user, GUEST_UID
    _write(
        etc / "passwd",
        "root:x:0:0:root:/root:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        f"{user}:x:{uid}:{uid}:{user}:/home/{user}:/bin/bash\n",
    )
    _write(etc / "group", f"root:x:0:\nnogroup:x:65534:\n{user}:x:{uid}:\n")
    _write(etc / "shadow", f"root:*:20000:0:99999:7:::\n{user}:*:20000:0:99999:7:::\n", 0o640)
    _write(etc / "hostname", guest.hostname + "\n")
    aliases = " ".join(dict.fromkeys([guest.hostname, guest.hostname.split(".")[0]]))
    _write(
        etc / "hosts",
        f"127.0.0.1\tlocalhost\n{guest.address}\t{aliases}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n",
    )
    _write(directory / "cpuinfo", cpuinfo(guest.vcpus))
    interpreter = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    # This very module (standard library only) is the guest's lsblk; see lsblk().
    _write(directory / "lsblk", f"#!{interpreter} -IS\n{Path(__file__).read_text()}", 0o755)
    _write(directory / "disks.json", json.dumps({"vda": guest.root_gb << 30}) + "\n")
    home = directory / "home" / user
    ssh = home / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    _write(ssh / "authorized_keys", "".join(key + "\n" for key in keys), 0o600)
    for path, mode in ((directory / "home", 0o755), (home, 0o755), (ssh, 0o700)):
        os.chmod(path, mode)
    for path in (home, ssh, ssh / "authorized_keys"):
        os.chown(path, uid, uid)
    key = directory / "ssh_host_ed25519_key"
    if not key.exists():
        _run(["dropbearkey", "-t", "ed25519", "-f", str(key)], "make the guest's host key")
    _write(
        directory / "boot.sh",
        BOOT_SCRIPT.format(
            directory=shlex.quote(str(directory)),
            meta=GUEST_META,
            lsblk=shlex.quote(os.path.realpath(shutil.which("lsblk") or "/usr/bin/lsblk")),
            hostname=shlex.quote(guest.hostname),
            dropbear=shlex.quote(shutil.which("dropbear") or "dropbear"),
            address=guest.address,
        ),
    )
    # The record is written last of the files but before any namespace exists,
    # so that destroy_guest and cleanup_all find whatever follows.
    _write(directory / "guest.json", json.dumps(guest.to_json(), indent=1) + "\n")


def _plumb(guest: Guest) -> None:
    """Network namespace, veth pair, addresses and routes."""
    host_mac = "fe:" + ":".join(short_pairs(short_id(guest.server_id)))
    _ip("netns", "add", guest.netns)
    _ip_batch(
        None,
        [
            f"link add {guest.host_interface} address {host_mac} type veth peer name eth0"
            f" address {guest.mac} netns {guest.netns}",
            f"link set {guest.host_interface} up",
            f"route add {guest.address}/32 dev {guest.host_interface}",
        ],
    )
    with contextlib.suppress(OSError):
        Path(f"/proc/sys/net/ipv6/conf/{guest.host_interface}/disable_ipv6").write_text("1")
    inside = [
        "link set lo up",
        f"addr add {guest.address}/{guest.prefixlen} dev eth0",
        "link set eth0 up",
    ]
    if guest.gateway:
        # The host end answers for the gateway: a permanent neighbour entry, so
        # replies reach the host without proxy ARP or forwarding on the host.
        inside += [
            f"neigh replace {guest.gateway} lladdr {host_mac} dev eth0 nud permanent",
            f"route add default via {guest.gateway} dev eth0",
        ]
    else:
        inside.append("route add default dev eth0")
    _ip_batch(guest.netns, inside)


def short_pairs(short: str) -> list[str]:
    digits = (short + "0" * 10)[:10]
    return [digits[i : i + 2] for i in range(0, 10, 2)]


def _boot(guest: Guest, timeout: float) -> None:
    """Start the guest's init (the boot script, then Dropbear) and wait for port 22."""
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    monotonic = time.clock_gettime(time.CLOCK_MONOTONIC)
    console = open(guest.directory / "console.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        launcher = subprocess.Popen(
            [
                "nsenter",
                f"--net={NETNS_DIR / guest.netns}",
                "--",
                "unshare",
                "--mount",
                "--uts",
                "--ipc",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                "--time",
                f"--boottime=-{int(uptime)}",
                f"--monotonic=-{int(monotonic)}",
                "--",
                "/bin/sh",
                str(guest.directory / "boot.sh"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        console.close()
    _launchers[guest.netns] = launcher
    deadline = time.monotonic() + timeout
    while True:
        if _listening(guest.netns, guest.address):
            return
        if launcher.poll() is not None or time.monotonic() > deadline:
            why = "stopped" if launcher.returncode is not None else f"did not listen in {timeout} s"
            raise GuestError(
                f"the guest of server {guest.server_id} {why}: {_tail(guest.directory)}"
            )
        time.sleep(0.005)


def _listening(netns: str, address: str) -> bool:
    """Whether something in the namespace listens on address:22."""
    packed = int.from_bytes(ipaddress.IPv4Address(address).packed, "little")
    wanted = f"{packed:08X}:0016"
    for pid in _pids(netns):
        try:
            table = Path(f"/proc/{pid}/net/tcp").read_text()
        except OSError:
            continue
        for line in table.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[1] == wanted and fields[3] == "0A":
                return True
        return False
    return False


def _tail(directory: Path, lines: int = 5) -> str:
    try:
        text = (directory / "console.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no console log"
    return " | ".join(text[-lines:]) or "empty console log"


# -- processes and commands ----------------------------------------------------


def _pids(netns: str) -> list[int]:
    """Live processes in a network namespace (what ``ip netns pids`` prints)."""
    try:
        target = os.stat(NETNS_DIR / netns)
    except OSError:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            info = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (info.st_dev, info.st_ino) == (target.st_dev, target.st_ino):
            pids.append(int(entry))
    return pids


def _kill(netns: str) -> bool:
    """End every process of the namespace and wait until none is left.

    The guest's init (Dropbear, PID 1 of the guest's PID namespace) goes first:
    the kernel then ends the guest's sessions, and its parent, the ``unshare``
    launcher, reaps it and exits. Killing both at once would leave the init
    to a host PID 1 that may never reap it.
    """
    found = False
    deadline = time.monotonic() + STOP_TIMEOUT
    while True:
        pids = _pids(netns)
        if not pids:
            break
        found = True
        guest = [pid for pid in pids if _comm(pid) != "unshare"]
        late = time.monotonic() > deadline - STOP_TIMEOUT / 2
        for pid in guest if guest and not late else pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise GuestError(f"processes {pids} of guest {netns} did not end")
        time.sleep(0.005)
    launcher = _launchers.pop(netns, None)
    if launcher is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            launcher.wait(timeout=STOP_TIMEOUT)
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _run(argv: list[str], what: str, *, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise GuestError(f"cannot {what}: {argv[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().replace("\n", " | ")
        raise GuestError(f"cannot {what}: {' '.join(argv[:4])}...: {message}")
    return done.stdout


def _ip(*args: str, missing_ok: bool = False) -> str:
    try:
        return _run(["ip", *args], f"run ip {' '.join(args[:2])}")
    except GuestError as exc:
        text = str(exc)
        gone = "Cannot find device" in text or "No such file" in text or "does not exist" in text
        if missing_ok and gone:
            return ""
        raise


def _ip_batch(netns: str | None, commands: list[str]) -> None:
    argv = ["ip", "-batch", "-"] if netns is None else ["ip", "-n", netns, "-batch", "-"]
    where = "on the host" if netns is None else f"in {netns}"
    _run(argv, f"set up the guest's network {where}", stdin="\n".join(commands) + "\n")


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _load(server_id: str, state_dir: str | os.PathLike) -> Guest:
    record = guest_dir(server_id, state_dir) / "guest.json"
    try:
        return Guest.from_json(json.loads(record.read_text()))
    except FileNotFoundError:
        raise GuestError(f"server {server_id} has no guest in {state_dir}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise GuestError(f"the guest record {record} is unreadable: {exc}") from None


@contextlib.contextmanager
def _disks(guest: Guest) -> Iterator[dict[str, int]]:
    """The guest's disk table, locked, written back when the block ends."""
    path = guest.directory / "disks.json"
    with open(guest.directory / "disks.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            disks = json.loads(path.read_text())
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
            disks = {"vda": guest.root_gb << 30}
        before = dict(disks)
        yield disks
        if disks != before:
            _write(path, json.dumps(disks) + "\n")


# -- the guest's lsblk -------------------------------------------------------------


def lsblk(argv: Sequence[str], directory: str | None = None) -> int:
    """util-linux's lsblk, for the disks in the guest's ``disks.json``.

    A copy of this module is bind-mounted over ``/usr/bin/lsblk`` in every
    guest, so Tempest's ``RemoteClient.get_disks`` (``lsblk -lb --nodeps``) sees
    the root disk and the attached volumes. Options: ``-l -b -d -n -a -i -p -r
    -f -o COLUMNS`` and their long forms, and device arguments.
    """
    directory = directory or os.environ.get("TCUP_GUEST_DIR", GUEST_META)
    columns: Sequence[str] = LSBLK_DEFAULT
    raw_bytes, heading, devices = False, True, []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            devices.extend(args)
            break
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            if name in ("list", "nodeps", "all", "ascii", "paths", "raw"):
                continue
            if name == "bytes":
                raw_bytes = True
            elif name == "noheadings":
                heading = False
            elif name == "fs":
                columns = LSBLK_FS
            elif name == "output":
                columns = (value or next(args, "")).upper().split(",")
            elif name == "help":
                print("Usage: lsblk [options] [<device> ...]")
                return 0
            else:
                return _lsblk_fail(f"unrecognized option '{arg}'")
            continue
        if arg.startswith("-") and len(arg) > 1:
            flags = arg[1:]
            while flags:
                flag, flags = flags[0], flags[1:]
                if flag not in "ldaipbnfro":
                    return _lsblk_fail(f"invalid option -- '{flag}'")
                if flag == "b":
                    raw_bytes = True
                elif flag == "n":
                    heading = False
                elif flag == "f":
                    columns = LSBLK_FS
                elif flag == "o":
                    columns = (flags or next(args, "")).upper().split(",")
                    flags = ""
            continue
        devices.append(arg)
    for column in columns:
        if column not in LSBLK_KNOWN:
            return _lsblk_fail(f"unknown column: {column}")
    with open(os.path.join(directory, "disks.json")) as handle:
        disks = json.load(handle)
    wanted = {os.path.basename(device) for device in devices}
    for name in sorted(wanted - set(disks)):
        sys.stderr.write(f"lsblk: /dev/{name}: not a block device\n")
    rows = []
    for name in sorted(disks):
        if wanted and name not in wanted:
            continue
        size = disks[name]
        values = {
            "NAME": name,
            "KNAME": name,
            "PATH": "/dev/" + name,
            "MAJ:MIN": _majmin(name),
            "RM": "0",
            "RO": "0",
            "TYPE": "disk",
            "SIZE": str(size) if raw_bytes else _human(size),
        }
        rows.append([values.get(column, "") for column in columns])
    table = ([list(columns)] if heading else []) + rows
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))] if table else []
    for row in table:
        cells = [
            row[i].rjust(widths[i]) if column in LSBLK_RIGHT else row[i].ljust(widths[i])
            for i, column in enumerate(columns)
        ]
        print(" ".join(cells).rstrip())
    return 32 if wanted and not rows else 0


def _lsblk_fail(message: str) -> int:
    sys.stderr.write(f"lsblk: {message}\nTry 'lsblk --help' for more information.\n")
    return 1


def _human(size: int) -> str:
    value, unit = float(size), "B"
    for unit in "BKMGTPE":  # noqa: B007 - the unit the loop stops at is wanted
        if value < 1024 or unit == "E":
            break
        value /= 1024
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return text + ("" if unit == "B" else unit)


def _majmin(name: str) -> str:
    if name.startswith(("vd", "sd", "xvd")) and len(name) > 2:
        major = "253" if name.startswith("vd") else "8"
        return f"{major}:{16 * (ord(name[-1]) - ord('a'))}"
    return "259:0"


# -- command line -------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tcup_guests list|cleanup STATE_DIR``: for cloud-down and debugging."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in ("list", "cleanup"):
        print("usage: python -m tcup_guests list|cleanup STATE_DIR", file=sys.stderr)
        return 2
    command, state_dir = args
    try:
        if command == "cleanup":
            for server_id in cleanup_all(state_dir):
                print(f"removed the guest of server {server_id}")
        else:
            for guest in list_guests(state_dir):
                state = "running" if _pids(guest.netns) else "stopped"
                print(f"{guest.server_id} {guest.address} {guest.hostname} {state}")
    except (GuestError, OSError) as exc:
        print(f"tcup_guests: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if os.path.basename(sys.argv[0]) == "lsblk":  # the guest's copy
        sys.exit(lsblk(sys.argv[1:]))
    sys.exit(main())
