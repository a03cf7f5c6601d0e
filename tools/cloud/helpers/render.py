"""Write the reference cloud's configuration files into the state directory.

Run by tools/cloud/up with the cloud venv's Python (standard library only).
Idempotent: secrets are generated once per state directory and kept (mode 0600);
configuration files are rewritten from tools/cloud/templates on every call, so a
change to a template takes effect at the next `up`.
"""

from __future__ import annotations

import argparse
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
}
# Files holding a service password: readable by the owner only.
SECRET_FILES = {"proxy-server.conf", "glance-api.conf"}

# Users whose passwords render needs or knows up front; provision adds its test accounts.
SECRET_NAMES = ["admin", "tcup", "swift", "glance"]

IMAGE_SIZE = 64 * 1024


def write_private(path: Path, text: str) -> None:
    """Write text to path with mode 0600, never exposing it with wider rights."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def load_secrets(state: Path, users: list[str] = SECRET_NAMES) -> dict[str, str]:
    """Return the passwords (``password_<user>``) and hash seeds of this state dir.

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


def render(state: Path, venv: Path) -> None:
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
    }
    for template, target in FILES.items():
        text = string.Template((TEMPLATES / template).read_text(encoding="utf-8"))
        out = etc / target
        rendered = text.substitute(values)
        if template in SECRET_FILES:
            write_private(out, rendered)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(rendered, encoding="utf-8")

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--venv", type=Path, required=True)
    args = parser.parse_args()
    render(args.state.resolve(), args.venv)


if __name__ == "__main__":
    main()
