"""lsblk of a reference-cloud guest: the disks its fake hypervisor attached.

``tcup_guests`` copies this file into each guest's directory with a shebang
and bind-mounts it over ``/usr/bin/lsblk`` inside the guest. It prints the
disks listed in the guest's ``disks.json`` (``{"vda": size_in_bytes, ...}``,
kept by ``tcup_guests.attach_disk``/``detach_disk``) the way util-linux's lsblk
does, for the options Tempest and people use: ``-l -b -d -n -a -i -p -r -f``,
``-o COLUMNS`` and device arguments. Standard library only; Python 3.6+.
"""

import json
import os
import sys

DISKS = os.path.join(os.environ.get("TCUP_GUEST_DIR", "/run/tcup-guest"), "disks.json")
RIGHT = {"MAJ:MIN", "RM", "SIZE", "RO"}
DEFAULT = ["NAME", "MAJ:MIN", "RM", "SIZE", "RO", "TYPE", "MOUNTPOINTS"]
FS = ["NAME", "FSTYPE", "FSVER", "LABEL", "UUID", "FSAVAIL", "FSUSE%", "MOUNTPOINTS"]
KNOWN = set(DEFAULT) | set(FS) | {"MOUNTPOINT", "KNAME", "PATH", "MODEL", "SERIAL"}


def fail(message):
    sys.stderr.write(f"lsblk: {message}\nTry 'lsblk --help' for more information.\n")
    sys.exit(1)


def human(size):
    value = float(size)
    for unit in "BKMGTPE":
        if value < 1024 or unit == "E":
            break
        value /= 1024
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return text + ("" if unit == "B" else unit)


def majmin(name):
    if name.startswith(("vd", "sd", "xvd")) and len(name) > 2:
        index = ord(name[-1]) - ord("a")
        major = "253" if name.startswith("vd") else "8"
        return f"{major}:{16 * index}"
    return "259:0"


def main(argv):
    columns, raw_bytes, heading, devices = None, False, True, []
    options = "ldaipbnfro"  # short options; -o takes a value
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
                columns = FS
            elif name == "output":
                columns = (value or next(args, "")).upper().split(",")
            elif name == "help":
                print("Usage: lsblk [options] [<device> ...]")
                return 0
            else:
                fail(f"unrecognized option '{arg}'")
            continue
        if arg.startswith("-") and len(arg) > 1:
            flags = arg[1:]
            while flags:
                flag, flags = flags[0], flags[1:]
                if flag not in options:
                    fail(f"invalid option -- '{flag}'")
                if flag == "b":
                    raw_bytes = True
                elif flag == "n":
                    heading = False
                elif flag == "f":
                    columns = FS
                elif flag == "o":
                    columns = (flags or next(args, "")).upper().split(",")
                    flags = ""
            continue
        devices.append(arg)
    columns = columns or DEFAULT
    for column in columns:
        if column not in KNOWN:
            fail(f"unknown column: {column}")
    with open(DISKS) as handle:
        disks = json.load(handle)
    wanted = {os.path.basename(device) for device in devices}
    for name in wanted - set(disks):
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
            "MAJ:MIN": majmin(name),
            "RM": "0",
            "RO": "0",
            "TYPE": "disk",
            "SIZE": str(size) if raw_bytes else human(size),
        }
        rows.append([values.get(column, "") for column in columns])
    table = ([columns] if heading else []) + rows
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for row in table:
        cells = []
        for i, column in enumerate(columns):
            last = i == len(columns) - 1
            if column in RIGHT:
                cells.append(row[i].rjust(widths[i]))
            else:
                cells.append(row[i] if last else row[i].ljust(widths[i]))
        print(" ".join(cells).rstrip())
    return 32 if wanted - set(disks) and not rows else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
