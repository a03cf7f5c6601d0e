"""The reference cloud's guests (tools/cloud/drivers/tcup_guests.py).

The unit tests check the input checks and the guest's generated files. The
integration test makes real guests (network, mount, UTS, PID and time
namespaces plus Dropbear; root only) on TEST-NET-3, logs in with paramiko and
with Tempest's own RemoteClient, and checks that nothing is left afterwards.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import paramiko
import pytest

from tools.cloud.drivers import tcup_guests as guests

REPO = Path(__file__).resolve().parents[1]
MODULE = REPO / "tools" / "cloud" / "drivers" / "tcup_guests.py"
SERVER_A = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
SERVER_B = "f0e1d2c3-b4a5-4968-8776-655443322110"
# TEST-NET-3: the reference cloud's own guests use TEST-NET-2, so both can run at once.
NET = "203.0.113"

GOOD = dict(
    server_id=SERVER_A,
    hostname="tempest-serverstestjson-server-1234",
    ip_cidr=f"{NET}.21/24",
    gateway=f"{NET}.1",
    mac="fa:16:3e:aa:bb:cc",
    public_keys="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7s test",
    vcpus=2,
    ssh_user="cirros",
)


# -- unit ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hostname": "bad_name!"}, "is not a valid host name"),
        ({"hostname": "a" * 65}, "is not a valid host name"),
        ({"ip_cidr": "10.0.0.5/24"}, "outside the networks guests may use"),
        ({"ip_cidr": "8.8.8.8/24"}, "outside the networks guests may use"),
        ({"ip_cidr": f"{NET}.21"}, "needs the subnet's prefix length"),
        ({"ip_cidr": f"{NET}.0/24"}, "network or broadcast address"),
        ({"ip_cidr": "2001:db8::5/64"}, "IPv4 addresses only"),
        ({"ip_cidr": "nonsense"}, "is not an address with a prefix length"),
        ({"gateway": "198.51.100.1"}, "is not another address of 203.0.113.0/24"),
        ({"gateway": f"{NET}.21"}, "is not another address of"),
        ({"gateway": "gw"}, "is not an IPv4 address"),
        ({"mac": "01:16:3e:aa:bb:cc"}, "is not a unicast MAC"),
        ({"mac": "fa:16:3e:aa:bb"}, "is not a unicast MAC"),
        ({"public_keys": "not a key"}, "public key 1 is not an OpenSSH public key"),
        ({"public_keys": ["ssh-rsa AAAA x", "command=x ssh-rsa AAAA"]}, "public key 2"),
        ({"vcpus": 0}, "vcpus must be a whole number from 1 to 1024"),
        ({"vcpus": "2"}, "vcpus must be a whole number"),
        ({"ssh_user": "root"}, "is not a valid user name"),
        ({"ssh_user": "Bad User"}, "is not a valid user name"),
        ({"server_id": " "}, "server id is empty"),
    ],
)
def test_bad_input_is_refused_before_anything_is_made(tmp_path, change, message):
    state = tmp_path / "guests"
    with pytest.raises(guests.GuestError, match=message):
        guests.create_guest(**{**GOOD, **change}, state_dir=state)
    assert not state.exists()


def test_names_fit_linux_limits_and_follow_the_server_id():
    netns, interface = guests.names(SERVER_A)
    assert netns == "tcupg-0a1b2c3d4e5"
    assert interface == "tg0a1b2c3d4e5"
    assert len(interface) <= 15
    other_netns, other_interface = guests.names("not-a-uuid")
    assert other_netns.startswith("tcupg-") and len(other_interface) == len(interface)


def test_bad_device_names_are_refused(tmp_path):
    for device in ("/dev/../sda", "vd b", "", "/dev/"):
        with pytest.raises(guests.GuestError, match="is not a disk name like /dev/vdb"):
            guests.attach_disk(SERVER_A, device, tmp_path)


def test_attach_to_a_server_without_guest_says_so_and_detach_is_a_no_op(tmp_path):
    with pytest.raises(guests.GuestError, match=f"server {SERVER_A} has no guest"):
        guests.attach_disk(SERVER_A, "/dev/vdb", tmp_path)
    assert guests.detach_disk(SERVER_A, "/dev/vdb", tmp_path) is False
    assert guests.has_guest(SERVER_A, tmp_path) is False
    assert guests.destroy_guest(SERVER_A, tmp_path) is False
    assert guests.cleanup_all(tmp_path / "none") == []


def test_cpuinfo_lists_exactly_the_flavor_vcpus():
    host = Path("/proc/cpuinfo").read_text()
    for vcpus in (1, 3, 8):
        text = guests.cpuinfo(vcpus, host)
        processors = [line for line in text.splitlines() if line.startswith("processor")]
        assert [line.split(":")[1].strip() for line in processors] == [str(i) for i in range(vcpus)]
    # A host file without processor lines still gives numbered blocks.
    assert guests.cpuinfo(2, "model name\t: x\n").count("processor\t:") == 2


def _lsblk(tmp_path, *args, disks=None):
    """Run the module the way a guest does: a copy named lsblk, isolated mode."""
    (tmp_path / "disks.json").write_text(json.dumps(disks or {"vda": 1 << 30}))
    script = tmp_path / "lsblk"
    script.write_text(MODULE.read_text())
    env = {**os.environ, "TCUP_GUEST_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-IS", str(script), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_lsblk_prints_disks_where_tempest_reads_the_type_column(tmp_path):
    done = _lsblk(tmp_path, "-lb", "--nodeps", disks={"vdb": 2 << 30, "vda": 1 << 30})
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    pos = header.find("TYPE")  # what tempest's RemoteClient.get_disks does
    assert pos > 0
    assert [row[pos : pos + 4] for row in rows] == ["disk", "disk"]
    assert [row.split()[0] for row in rows] == ["vda", "vdb"]
    assert rows[1].split()[3] == str(2 << 30)
    human = _lsblk(tmp_path, disks={"vda": 1 << 30, "vdb": 3 << 29}).stdout.splitlines()
    assert human[1].split()[3] == "1G" and human[2].split()[3] == "1.5G"
    assert _lsblk(tmp_path, "-n", "-o", "NAME,SIZE", "-b").stdout.split() == ["vda", str(1 << 30)]


def test_lsblk_refuses_unknown_options_like_util_linux(tmp_path):
    done = _lsblk(tmp_path, "-x")
    assert done.returncode == 1
    assert done.stderr.startswith("lsblk: invalid option -- 'x'")
    assert _lsblk(tmp_path, "-o", "NOPE").stderr.startswith("lsblk: unknown column: NOPE")


def test_lsblk_names_missing_devices(tmp_path):
    done = _lsblk(tmp_path, "/dev/vdz")
    assert done.returncode == 32
    assert done.stderr == "lsblk: /dev/vdz: not a block device\n"
    assert _lsblk(tmp_path, "/dev/vda", "-n").stdout.split()[0] == "vda"


# -- integration --------------------------------------------------------------------

TEMPEST_PROBE = textwrap.dedent(
    """
    import json, sys
    from tempest.common.utils.linux import remote_client
    address, user, key = sys.argv[1], sys.argv[2], sys.stdin.read()
    client = remote_client.RemoteClient(address, user, password="unused", pkey=key)
    client.validate_authentication()
    print(json.dumps({
        "hostname": client.exec_command("hostname").rstrip(),
        "vcpus": int(client.exec_command("grep -c ^processor /proc/cpuinfo")),
        "disks": client.list_disks(),
        "boot": list(client.get_boot_time()),
    }))
    """
)


def _tempest_view(tmp_path: Path, address: str, user: str, private_key: str) -> dict:
    """What Tempest's compute RemoteClient sees, as the validation tests use it."""
    conf = tmp_path / "tempest-etc"
    conf.mkdir(exist_ok=True)
    (conf / "tempest.conf").write_text(
        "[validation]\nssh_timeout = 20\nconnect_timeout = 10\nssh_key_type = ecdsa\n"
    )
    env = {**os.environ, "TEMPEST_CONFIG_DIR": str(conf), "TEMPEST_CONFIG": "tempest.conf"}
    done = subprocess.run(
        [sys.executable, "-c", TEMPEST_PROBE, address, user],
        input=private_key,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ssh(guest: guests.Guest, user: str, key: paramiko.PKey) -> paramiko.SSHClient:
    """Log in, checking that the guest shows its own host key."""
    kind, blob = guests.host_public_key(guest.server_id, guest.directory.parent).split()
    client = paramiko.SSHClient()
    client.get_host_keys().add(
        guest.address, kind, paramiko.PKey.from_type_string(kind, base64.b64decode(blob))
    )
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        guest.address, username=user, pkey=key, timeout=10, look_for_keys=False, allow_agent=False
    )
    return client


def _run(client: paramiko.SSHClient, command: str) -> str:
    _, stdout, stderr = client.exec_command(command, timeout=20)
    out = stdout.read().decode()
    assert stdout.channel.recv_exit_status() == 0, stderr.read().decode()
    return out


def _private_key(key: paramiko.PKey) -> str:
    buffer = io.StringIO()
    key.write_private_key(buffer)
    return buffer.getvalue()


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def guest_tools():
    if os.geteuid() != 0:
        pytest.skip("guests need root (network namespaces, mounts)")
    subprocess.run([str(REPO / "tools" / "cloud" / "install-guest-sshd")], check=True)


@pytest.mark.integration
def test_two_guests_answer_ssh_like_servers_and_leave_nothing(tmp_path, guest_tools, capsys):
    state = tmp_path / "guests"
    key_a = paramiko.ECDSAKey.generate()  # Tempest's default validation key type
    key_b = paramiko.RSAKey.generate(2048)
    try:
        started = time.monotonic()
        a = guests.create_guest(
            **{**GOOD, "public_keys": f"{key_a.get_name()} {key_a.get_base64()} a\n"},
            state_dir=state,
        )
        create_a = time.monotonic() - started
        assert guests.has_guest(SERVER_A, state)
        started = time.monotonic()
        b = guests.create_guest(
            SERVER_B,
            "other.example.org",
            f"{NET}.22/24",
            None,
            None,
            [f"{key_b.get_name()} {key_b.get_base64()} b"],
            3,
            "tcup",
            state,
            root_gb=20,
        )
        create_b = time.monotonic() - started
        print(f"guest start: {create_a:.3f} s and {create_b:.3f} s")
        assert max(create_a, create_b) < 2.0
        assert guests.main(["list", str(state)]) == 0
        out = capsys.readouterr().out.splitlines()
        listed = [line for line in out if line.startswith((SERVER_A, SERVER_B))]
        assert sorted(listed) == sorted(
            [
                f"{SERVER_A} {NET}.21 {GOOD['hostname']} running",
                f"{SERVER_B} {NET}.22 other.example.org running",
            ]
        )

        # The same address cannot be given twice.
        with pytest.raises(guests.GuestError, match=f"{NET}.21 is already used by another guest"):
            guests.create_guest(
                **{**GOOD, "server_id": "another", "hostname": "x"}, state_dir=state
            )

        # Tempest's own client, as test_create_server and test_attach_volume use it.
        view = _tempest_view(tmp_path, a.address, "cirros", _private_key(key_a))
        assert view["hostname"] == GOOD["hostname"]
        assert view["vcpus"] == 2
        assert view["disks"] == ["vda"]

        with _ssh(b, "tcup", key_b) as client:
            assert _run(client, "hostname").strip() == "other.example.org"
            assert _run(client, "grep -c ^processor /proc/cpuinfo").strip() == "3"
            assert _run(client, "id -un").strip() == "tcup"
            assert _run(client, "lsblk -lb --nodeps").splitlines()[1].split()[3] == str(20 << 30)
            assert _run(client, "ip -4 -o addr show eth0").split()[3] == f"{NET}.22/24"
            # Only the guest's own processes: Dropbear is PID 1.
            assert _run(client, "cat /proc/1/comm").strip() == "dropbear"
        # Each guest takes only its own key; nobody logs in as root.
        with pytest.raises(paramiko.AuthenticationException):
            _ssh(b, "tcup", key_a)
        with pytest.raises(paramiko.AuthenticationException):
            _ssh(a, "root", key_a)

        # Volumes: attach twice is one disk; survives a reboot; detach removes it.
        assert guests.attach_disk(SERVER_A, "/dev/vdb", state) is True
        assert guests.attach_disk(SERVER_A, "/dev/vdb", state) is False
        before = _tempest_view(tmp_path, a.address, "cirros", _private_key(key_a))
        assert before["disks"] == ["vda", "vdb"]
        time.sleep(1.1)  # boot times have a one-second resolution
        guests.reboot_guest(SERVER_A, state)
        after = _tempest_view(tmp_path, a.address, "cirros", _private_key(key_a))
        assert after["disks"] == ["vda", "vdb"]
        assert after["boot"] > before["boot"]
        assert guests.detach_disk(SERVER_A, "vdb", state) is True
        assert guests.detach_disk(SERVER_A, "vdb", state) is False
        assert _tempest_view(tmp_path, a.address, "cirros", _private_key(key_a))["disks"] == ["vda"]

        # Powered off: no SSH; on again: SSH.
        guests.stop_guest(SERVER_B, state)
        with pytest.raises((OSError, paramiko.SSHException)):
            _ssh(b, "tcup", key_b)
        guests.start_guest(SERVER_B, state)
        with _ssh(b, "tcup", key_b) as client:
            assert _run(client, "hostname").strip() == "other.example.org"

        assert guests.destroy_guest(SERVER_A, state) is True
        assert guests.destroy_guest(SERVER_A, state) is False
        assert guests.cleanup_all(state) == [SERVER_B]
    finally:
        guests.cleanup_all(state)

    for guest in (a, b):
        assert guest.netns not in _ip("netns", "list")
        assert not Path("/sys/class/net", guest.host_interface).exists()
        assert _ip("-4", "route", "show", "table", "all", guest.address) == ""
        assert not guest.directory.exists()
    marks = (a.netns, b.netns, f"{a.address}:22", f"{b.address}:22")
    assert not [p for p in Path("/proc").iterdir() if _in_guest(p, marks)]
    assert list(state.iterdir()) == []


def _in_guest(proc: Path, marks: tuple[str, ...]) -> bool:
    """Whether a process's command line names a guest's namespace or address."""
    try:
        cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return any(mark in cmdline for mark in marks)


def test_command_line_says_how_to_use_it(capsys, tmp_path):
    assert guests.main(["bogus"]) == 2
    assert "usage: python -m tcup_guests list|cleanup STATE_DIR" in capsys.readouterr().err
    assert guests.main(["list", str(tmp_path)]) == 0
    assert guests.main(["cleanup", str(tmp_path / "none")]) == 0
    assert capsys.readouterr().out == ""


# -- the fake Nova driver's hooks, with real Nova objects in the platform venv ----------

DRIVER_PROBE = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])  # the checkout's drivers, not the installed copy
    from nova import objects
    objects.register_all()
    from nova.network import model
    import tcup_nova_fake

    spec = json.loads(sys.stdin.readline())
    conf = tcup_nova_fake.CONF
    conf.set_override("enabled", True, group="tcup_guests")
    conf.set_override("state_dir", spec["state_dir"], group="tcup_guests")
    conf.set_override("ssh_user", "cirros", group="tcup_guests")
    subnet = model.Subnet(
        cidr=spec["cidr"],
        gateway=model.IP(address=spec["gateway"], type="gateway"),
        ips=[model.FixedIP(address=spec["address"])],
    )
    vif = model.VIF(id="vif", address=spec["mac"], network=model.Network(id="n", subnets=[subnet]))
    network_info = model.NetworkInfo([vif])
    flavor = objects.Flavor(vcpus=spec["vcpus"], root_gb=1, memory_mb=64, ephemeral_gb=0, swap=0)
    instance = objects.Instance(
        uuid=spec["uuid"], hostname=spec["hostname"], key_data=spec["key"], flavor=flavor,
        vm_state="active", id=1,
    )
    driver = tcup_nova_fake.TcupFakeDriver(None)
    volumes = {"block_device_mapping": [{"mount_device": "/dev/vdb", "connection_info": {}}]}
    driver.spawn(None, instance, None, [], None, {}, network_info, volumes)
    print("spawn", flush=True)
    for line in sys.stdin:
        action = line.strip()
        if action == "off":
            driver.power_off(instance, 60, 10)  # as the manager calls it
        elif action == "on":
            # as the manager calls it
            driver.power_on(None, instance, network_info, None, None, None)
        elif action == "reboot":
            driver.reboot(
                None, instance, network_info, "HARD", block_device_info=None,
                accel_info=None, share_info=None, bad_volumes_callback=None,
            )
        elif action == "attach":
            driver.attach_volume(None, {}, instance, "/dev/vdc")
        elif action == "detach":
            driver.detach_volume(None, {}, instance, "/dev/vdb")
        elif action == "destroy":
            driver.destroy(None, instance, network_info)
        print(action, flush=True)
    """
)


@pytest.mark.integration
@pytest.mark.skipif(
    os.environ.get("TCUP_CLOUD_PROFILE") == "storage",
    reason="TCUP_CLOUD_PROFILE=storage: no platform venv with Nova",
)
def test_fake_nova_driver_gives_each_server_a_guest(tmp_path, guest_tools):
    """Spawn, power, volume and destroy calls of the driver reach the guest.

    Real Nova objects and the driver in the platform venv, without a running
    cloud: ``up --install-only`` installs the venv (idempotent) and starts nothing.
    """
    subprocess.run(
        [str(REPO / "tools" / "cloud" / "up"), "--install-only"],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    cache = Path(os.environ.get("TCUP_DEV_CACHE", Path.home() / ".cache" / "tcup-dev"))
    python = cache / "platform-venv" / "bin" / "python"
    key = paramiko.ECDSAKey.generate()
    state = tmp_path / "guests"
    spec = {
        "state_dir": str(state),
        "uuid": "c0ffee00-1234-4abc-8def-0123456789ab",
        "hostname": "tempest-serverstestmanualdisk-server-42",
        "address": f"{NET}.31",
        "cidr": f"{NET}.0/24",
        "gateway": f"{NET}.1",
        "mac": "fa:16:3e:00:00:31",
        "vcpus": 3,
        "key": f"{key.get_name()} {key.get_base64()} Generated-by-Nova\n",
    }
    probe = subprocess.Popen(
        [str(python), "-c", DRIVER_PROBE, str(REPO / "tools" / "cloud" / "drivers")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def call(action: str | None = None) -> None:
        if action:
            probe.stdin.write(action + "\n")
            probe.stdin.flush()
        line = probe.stdout.readline().strip()
        assert line == (action or "spawn"), line or probe.stderr.read()[-3000:]

    try:
        probe.stdin.write(json.dumps(spec) + "\n")
        probe.stdin.flush()
        call()
        guest = guests.list_guests(state)[0]
        with _ssh(guest, "cirros", key) as client:
            assert _run(client, "hostname").strip() == spec["hostname"]
            assert _run(client, "grep -c ^processor /proc/cpuinfo").strip() == "3"
            assert _run(client, "lsblk -ln -o NAME").split() == ["vda", "vdb"]
        call("attach")
        call("detach")
        call("off")
        with pytest.raises((OSError, paramiko.SSHException)):
            _ssh(guest, "cirros", key)
        call("on")
        call("reboot")
        with _ssh(guest, "cirros", key) as client:
            assert _run(client, "lsblk -ln -o NAME").split() == ["vda", "vdc"]
            assert float(_run(client, "cat /proc/uptime").split()[0]) < 30
        call("destroy")
        assert guests.list_guests(state) == []
        assert guest.netns not in _ip("netns", "list")
    finally:
        probe.stdin.close()
        probe.wait(timeout=60)
        guests.cleanup_all(state)
