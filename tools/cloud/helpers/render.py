"""Write the reference cloud's configuration files into the state directory.

Run by tools/cloud/up with the cloud venv's Python (standard library only).
Idempotent: secrets are generated once per state directory and kept (mode 0600);
configuration files are rewritten from tools/cloud/templates on every call, so a
change to a template takes effect at the next `up`. With --platform-venv it also
writes the Platform services' files (RabbitMQ, Placement, Nova, Neutron, Cinder)
and those of the add-on services (BIND, Designate, Heat).
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import os
import secrets
import shutil
import string
import sys
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# template name -> path relative to <state>/etc
FILES = {
    "keystone.conf": "keystone/keystone.conf",
    "keystone-uwsgi.ini": "keystone/uwsgi.ini",
    "swift.conf": "swift/swift.conf",
    "proxy-server.conf": "swift/proxy-server.conf",
    "account-server.conf": "swift/account-server.conf",
    "container-server.conf": "swift/container-server.conf",
    "object-server.conf": "swift/object-server.conf",
    "glance-api.conf": "glance/glance-api.conf",
    "glance-uwsgi.ini": "glance/uwsgi.ini",
    "my.cnf": "mysql/my.cnf",
}
# The Platform profile's files, written only when its venv is given.
PLATFORM_FILES = {
    "rabbitmq.conf": "rabbitmq/rabbitmq.conf",
    "rabbitmq-env.sh": "rabbitmq/env.sh",
    "placement.conf": "placement/placement.conf",
    "placement-uwsgi.ini": "placement/uwsgi.ini",
    "nova.conf": "nova/nova.conf",
    "nova-uwsgi.ini": "nova/uwsgi.ini",
    "neutron.conf": "neutron/neutron.conf",
    "ml2_conf.ini": "neutron/plugins/ml2/ml2_conf.ini",
    "neutron-uwsgi.ini": "neutron/uwsgi.ini",
    "cinder.conf": "cinder/cinder.conf",
    "cinder-uwsgi.ini": "cinder/uwsgi.ini",
    "named.conf": "bind/named.conf",
    "rndc.conf": "bind/rndc.conf",
    "rndc.key": "bind/rndc.key",
    "designate.conf": "designate/designate.conf",
    "designate-uwsgi.ini": "designate/uwsgi.ini",
    "pools.yaml": "designate/pools.yaml",
    "heat.conf": "heat/heat.conf",
    "heat-uwsgi.ini": "heat/uwsgi.ini",
    "heat-cfn-uwsgi.ini": "heat/cfn-uwsgi.ini",
}
# Files holding a password: readable by the owner only.
SECRET_FILES = {
    "proxy-server.conf",
    "glance-api.conf",
    "keystone.conf",
    "rabbitmq.conf",
    "placement.conf",
    "nova.conf",
    "neutron.conf",
    "cinder.conf",
    "rndc.key",
    "designate.conf",
    "heat.conf",
}
# Paste pipelines and data files shipped in the venvs, copied beside each config.
PLATFORM_COPIES = {
    "nova/api-paste.ini": "nova/api-paste.ini",
    "neutron/api-paste.ini": "neutron/api-paste.ini",
    "cinder/api-paste.ini": "cinder/api-paste.ini",
    "cinder/resource_filters.json": "cinder/resource_filters.json",
    "designate/api-paste.ini": "designate/api-paste.ini",
}

# Service users of Keystone (service project, roles admin + service).
PLATFORM_USERS = ["nova", "neutron", "cinder", "placement", "designate", "heat"]
# Heat's admin of its stack user domain `heat` (a user of that domain, not of Default).
HEAT_DOMAIN_ADMIN = "heat_domain_admin"
# Users whose passwords render needs or knows up front; provision adds its test accounts.
SECRET_NAMES = ["admin", "tcup", "swift", "glance", *PLATFORM_USERS, HEAT_DOMAIN_ADMIN]
# Passwords of the database and message queue accounts (not Keystone users), the
# key with which Heat encrypts its stored credentials and BIND's rndc key.
INFRA_SECRETS = ["database", "rabbitmq", "heat_auth_encryption", "rndc"]
DB_USER = "openstack"

IMAGE_SIZE = 64 * 1024


def write_private(path: Path, text: str) -> None:
    """Write text to path with mode 0600, never exposing it with wider rights."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def load_secrets(state: Path, users: list[str] = SECRET_NAMES) -> dict[str, str]:
    """Return the passwords (``password_<user>``), infrastructure passwords
    (``secret_<name>``) and hash seeds of this state dir.

    Missing ones are generated and saved; existing ones never change.
    """
    path = state / "secrets.json"
    data: dict[str, str] = {}
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for name in users:
        if f"password_{name}" not in data:
            data[f"password_{name}"] = secrets.token_urlsafe(18)
            changed = True
    for name in INFRA_SECRETS:
        if f"secret_{name}" not in data:
            data[f"secret_{name}"] = secrets.token_hex(16)
            changed = True
    for name in ("hash_prefix", "hash_suffix"):
        if name not in data:
            data[name] = secrets.token_hex(16)
            changed = True
    if changed or (path.stat().st_mode & 0o077):
        write_private(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return data


def check_xattrs(device: Path) -> None:
    """Swift keeps object metadata in user xattrs: fail early where the file system lacks them."""
    probe = device / ".xattr-probe"
    probe.touch()
    try:
        os.setxattr(probe, "user.tcup.probe", b"1")
    except OSError as err:
        sys.exit(
            f"error: {device} does not support user extended attributes ({err.strerror}), "
            "which Swift needs; set TCUP_CLOUD_DIR to a folder on ext4 or xfs"
        )
    finally:
        probe.unlink()


def ksa_block(user: str, password: str, authtoken: bool = False) -> str:
    """The keystoneauth options of a service user, as one config section's body."""
    lines = []
    if authtoken:
        lines.append("www_authenticate_uri = http://127.0.0.1:5000")
    lines += [
        "auth_url = http://127.0.0.1:5000",
        "auth_type = password",
        f"username = {user}",
        f"password = {password}",
        "project_name = service",
        "user_domain_name = Default",
        "project_domain_name = Default",
        "region_name = RegionOne",
    ]
    if authtoken:
        # Nova and Cinder send service tokens; the service role proves them.
        lines.append("service_token_roles_required = True")
    return "\n".join(lines)


def write_template(template: str, out: Path, values: dict[str, str]) -> None:
    text = string.Template((TEMPLATES / template).read_text(encoding="utf-8"))
    rendered = text.substitute(values)
    if template in SECRET_FILES:
        write_private(out, rendered)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(rendered, encoding="utf-8")


def render(state: Path, venv: Path, platform_venv: Path | None = None) -> None:
    secrets_ = load_secrets(state)
    etc = state / "etc"
    values = {
        "state": str(state),
        "etc": str(etc),
        "data": str(state / "data"),
        "srv": str(state / "srv" / "node"),
        "run": str(state / "run"),
        "venv": str(venv),
        "user": getpass.getuser(),
        "hash_prefix": secrets_["hash_prefix"],
        "hash_suffix": secrets_["hash_suffix"],
        "swift_password": secrets_["password_swift"],
        "glance_password": secrets_["password_glance"],
        "logs": str(state / "logs"),
        "db_url": f"mysql+pymysql://{DB_USER}:{secrets_['secret_database']}@127.0.0.1:3318",
    }
    for template, target in FILES.items():
        write_template(template, etc / target, values)
    if platform_venv is not None:
        render_platform(state, platform_venv, values, secrets_)

    # Glance reads its paste pipeline from the same folder as its config.
    paste = venv / "etc" / "glance" / "glance-api-paste.ini"
    if not paste.exists():
        sys.exit(f"error: {paste} is missing; remove the cloud venv and run tools/cloud/up again")
    shutil.copyfile(paste, etc / "glance" / "glance-api-paste.ini")

    for folder in (
        etc / "keystone" / "fernet-keys",
        etc / "keystone" / "credential-keys",
    ):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    for folder in (
        state / "data" / "glance" / "images",
        state / "data" / "glance" / "staging",
        state / "data" / "glance" / "tasks",
        state / "srv" / "node" / "d1",
        state / "run" / "lock",
        state / "logs",
        state / "cache" / "swift",
    ):
        folder.mkdir(parents=True, exist_ok=True)

    check_xattrs(state / "srv" / "node" / "d1")

    # A tiny raw disk image for Glance and Tempest's image tests: made here, never downloaded.
    image = state / "image.img"
    if not image.exists() or image.stat().st_size != IMAGE_SIZE:
        header = b"tcup reference cloud test image\n"
        image.write_bytes(header + bytes(IMAGE_SIZE - len(header)))


def render_platform(
    state: Path, platform_venv: Path, values: dict[str, str], secrets_: dict[str, str]
) -> None:
    """Write RabbitMQ's, the OpenStack Platform services' and the add-on services' files."""
    etc = state / "etc"
    values = dict(values)
    values["platform_venv"] = str(platform_venv)
    values["transport_url"] = f"rabbit://tcup:{secrets_['secret_rabbitmq']}@127.0.0.1:5682/"
    values["rabbit_password"] = secrets_["secret_rabbitmq"]
    values["guests"] = "False" if os.environ.get("TCUP_CLOUD_GUESTS") == "0" else "True"
    # Heat wants a key of exactly 32 characters; rndc a base64 secret.
    values["heat_auth_encryption_key"] = secrets_["secret_heat_auth_encryption"][:32]
    values["rndc_secret"] = base64.b64encode(bytes.fromhex(secrets_["secret_rndc"])).decode()
    values["heat_password"] = secrets_["password_heat"]
    values["heat_domain_admin_password"] = secrets_[f"password_{HEAT_DOMAIN_ADMIN}"]
    for user in PLATFORM_USERS:
        values[f"ksa_{user}"] = ksa_block(user, secrets_[f"password_{user}"])
        values[f"authtoken_{user}"] = ksa_block(user, secrets_[f"password_{user}"], True)
    for template, target in PLATFORM_FILES.items():
        write_template(template, etc / target, values)
    (etc / "rabbitmq" / "enabled_plugins").write_text("[].\n", encoding="utf-8")
    (etc / "rabbitmq" / "rabbitmq-env.conf").write_text("", encoding="utf-8")
    for source, target in PLATFORM_COPIES.items():
        path = platform_venv / "etc" / source
        if not path.exists():
            sys.exit(f"error: {path} is missing; remove the platform venv and run up again")
        shutil.copyfile(path, etc / target)
    for folder in (
        "nova/instances",
        "neutron",
        "cinder",
        "rabbitmq",
        "guests",
        "bind",
        "designate",
        "heat/plugins",
    ):
        (state / "data" / folder).mkdir(parents=True, exist_ok=True)
    for folder in ("nova", "neutron", "cinder", "designate", "heat"):
        (state / "locks" / folder).mkdir(parents=True, exist_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--venv", type=Path, required=True)
    parser.add_argument("--platform-venv", type=Path, help="write the Platform profile's files too")
    args = parser.parse_args()
    render(args.state.resolve(), args.venv, args.platform_venv)


if __name__ == "__main__":
    main()
