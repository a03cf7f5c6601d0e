"""``tcup check``: pre-flight only: credentials, catalog, cpid, services for a target."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from tcup.errors import ExitCode

NAME = "check"
HELP = "check credentials, catalog and the services a guideline target needs"
DESCRIPTION = """\
Authenticate against the cloud, read its catalog, compute its cpid (as
refstack-client does) and, with --guideline/--target, check that every service
the target's tests need is in the catalog and answers.  Nothing is run.

Credentials come from the usual OpenStack sources (openstacksdk): OS_*
variables (source your openrc), or --os-cloud NAME / OS_CLOUD with a
clouds.yaml (+ secure.yaml); OS_CLIENT_CONFIG_FILE names a clouds.yaml
elsewhere.  Keystone v3 domains, application credentials (OS_AUTH_TYPE=
v3applicationcredential), OS_CACERT and --insecure are supported.
"""


def positive_int(text: str) -> int:
    """argparse type for counts (workers, seconds): a whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def add_cloud_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every cloud-facing command shares."""
    group = parser.add_argument_group("cloud")
    group.add_argument(
        "--os-cloud", metavar="NAME", help="cloud from clouds.yaml (default: $OS_CLOUD or OS_*)"
    )
    group.add_argument("--os-region-name", metavar="REGION", help="region (default: the cloud's)")
    group.add_argument("--os-cacert", metavar="FILE", help="CA bundle to verify TLS with")
    group.add_argument(
        "--insecure", action="store_true", help="do not verify TLS certificates (testing only)"
    )


def add_guideline_arguments(parser: argparse.ArgumentParser, required: bool = False) -> None:
    group = parser.add_argument_group("guideline")
    group.add_argument(
        "--guideline",
        required=required,
        metavar="G",
        help="guideline: a version (2020.06), a file or a URL",
    )
    group.add_argument(
        "--target", metavar="T", help="target: platform, compute, object/storage, ..."
    )
    group.add_argument(
        "--add-on",
        action="append",
        default=[],
        metavar="A",
        help="add-on: dns or orchestration (that add-on of the guideline's version), "
        "or an add-on guideline (dns.2020.06, a file, a URL); repeatable",
    )
    group.add_argument(
        "--guideline-source",
        metavar="SRC",
        help="where versions are found: a directory or a RefStack server URL",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_cloud_arguments(parser)
    add_guideline_arguments(parser)


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    return check(
        stdout,
        cloud=args.os_cloud,
        region=args.os_region_name,
        cacert=args.os_cacert,
        insecure=args.insecure,
        guideline=args.guideline,
        target=args.target,
        add_ons=args.add_on,
        guideline_source=args.guideline_source,
    )


def check(
    stdout: TextIO,
    *,
    cloud: str | None = None,
    region: str | None = None,
    cacert: str | Path | None = None,
    insecure: bool = False,
    guideline: str | None = None,
    target: str | None = None,
    add_ons: list[str] | tuple[str, ...] = (),
    guideline_source: str | None = None,
) -> int:
    """Print what pre-flight learns; 0 when the cloud can run the target, else 3."""
    from tcup import cloud as cloud_mod

    required: list[str] = []
    if guideline:
        from tcup.run import load_plan, services_for_plan

        test_plan, _, _ = load_plan(guideline, target, add_ons, guideline_source)
        required = sorted(services_for_plan(test_plan).keys())
    creds = cloud_mod.load_credentials(
        cloud, insecure=insecure, cacert=str(cacert) if cacert else None, region_name=region
    )
    info = cloud_mod.preflight(creds, required, fail_on_missing=False)
    print(cloud_mod.format_cloud_info(info), file=stdout)
    if info.missing:
        print(
            f"pre-flight: the target needs {', '.join(info.missing)}, which the catalog lacks",
            file=stdout,
        )
        return int(ExitCode.PREFLIGHT)
    print("pre-flight: ok", file=stdout)
    return int(ExitCode.QUALIFIES)
