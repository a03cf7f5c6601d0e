"""``tcup run``: the whole pipeline in one command."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from tcup.commands.check import add_cloud_arguments, add_guideline_arguments, positive_int

NAME = "run"
HELP = "run a guideline's Tempest tests against your cloud, score, sign and upload"
DESCRIPTION = """\
Run the Tempest tests of an interop guideline target against your cloud and
score them; with --url, sign and upload the results to a RefStack-compatible
server.  Stages: check (credentials, catalog, cpid, services) -> plan ->
configure (tempest.conf via python-tempestconf) -> execute (stestr, live
progress) -> collect -> report -> sign -> upload.

example:
  tcup run --guideline 2020.06 --target object --os-cloud mycloud \\
      --accounts accounts.yaml --out out/

credentials (the usual OpenStack sources, via openstacksdk):
  OS_* variables       source your openrc: OS_AUTH_URL, OS_USERNAME, OS_PASSWORD,
                       OS_PROJECT_NAME, OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME,
                       OS_REGION_NAME, OS_CACERT; or OS_AUTH_TYPE=
                       v3applicationcredential with OS_APPLICATION_CREDENTIAL_ID
                       and _SECRET
  clouds.yaml          --os-cloud NAME (or OS_CLOUD) picks a cloud from
                       ./clouds.yaml, ~/.config/openstack/clouds.yaml or
                       /etc/openstack/clouds.yaml (+ secure.yaml beside it);
                       OS_CLIENT_CONFIG_FILE names another file.  In a
                       container, mount it and set OS_CLIENT_CONFIG_FILE.

Tempest credentials:
  --accounts FILE      pre-provisioned accounts (Tempest accounts.yaml): no admin
                       rights needed, fastest.  Tempest itself skips
                       AccountTest.test_list_containers_with_marker with
                       pre-provisioned accounts (upstream bug 2147232), so a
                       Storage run on them cannot qualify.
  --accounts auto      with admin credentials: tcup makes a pool of test
                       accounts sized to --concurrency, runs on it, runs the
                       tests Tempest skipped there again with dynamic
                       credentials, and deletes the pool at the end.
  (neither)            admin credentials are required and Tempest creates its
                       own users for every test class (dynamic credentials).
  Nothing is downloaded: with an image service, --image FILE (or a generated
  1 MiB raw file) is uploaded instead of cirros.

compute tests:
  The image they boot is --image FILE, --image generate (a tiny raw disk, for a
  fake hypervisor), or the smallest image in Glance Nova can boot; none of
  these is a pre-flight error (exit 3).  Flavors must hold the image (checked
  before any test runs).  --validation auto|on|off decides whether tests log
  in to guests over SSH; when it is off, the required tests that therefore
  cannot pass are named before the run.

services missing from the catalog:
  Tests of services the catalog lacks (e.g. compute on a storage-only cloud)
  are not run and count as "not run" in the report; the verdict lists the
  required capabilities that are missing.  --no-skip-missing-services makes a
  missing service a pre-flight failure (exit 3) instead.  The report ends
  with one verdict per programme: the target's, then each --add-on's; exit 0
  needs them all.

settings:
  Every option may come from TCUP_<OPTION> (TCUP_GUIDELINE, TCUP_TARGET,
  TCUP_ADD_ON=a,b, TCUP_CONCURRENCY, TCUP_URL, TCUP_KEY, TCUP_OUT ...) or from
  a [tcup] table in ~/.config/tcup/tcup.toml (TCUP_CONFIG names another);
  the command line wins.  TCUP_CACHE_DIR holds guidelines and the Tempest
  workspace; TCUP_IMAGE_DIGEST is recorded in the manifest (set by the image).
  Secrets are never written: tempest.conf in the output is redacted.

output directory (--out, default ./tcup-out):
  manifest.json          versions, guideline id + sha256, target, add-ons,
                         test list sha256, cpid, times, exit status
  tempest.conf           redacted (no passwords, secrets or tokens)
  test-list.txt          exactly the test ids that were run
  results.subunit        raw subunit v2 stream from stestr (kept on Ctrl-C)
  results.json           RefStack upload body (signed and uploaded as is)
  results-extended.json  every test: status, duration, failure detail
  junit.xml              for CI systems
  report.txt|md|html|json  capability table and verdict
  upload.json            the server's receipt, when uploaded
  outbox/                a failed upload, for `tcup upload` to retry

run again what did not pass (--rerun DIR):
  Reads DIR/manifest.json (guideline, target, add-ons, cpid) and
  DIR/results.subunit, and runs only the planned tests that did not pass there
  (failed, skipped or never reported) on the same cloud.  Their results replace
  the earlier ones in DIR: results.subunit, results.json, the reports; every
  pass's own stream stays in DIR/passes/, and manifest.json lists the passes.
  An upload (--url) sends the merged results.
    tcup run --rerun tcup-out --os-cloud mycloud

Ctrl-C stops the run, keeps the partial stream, results and report, and
exits 130.
"""


def _truthy(value: object) -> bool:
    """A bool from argparse, or a string from TCUP_* / the config file."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_guideline_arguments(parser)
    parser.add_argument(
        "--status",
        action="append",
        dest="statuses",
        metavar="S",
        help="capability status to run: required (default), advisory, deprecated, removed; "
        "repeatable",
    )
    add_cloud_arguments(parser)
    tempest = parser.add_argument_group("tempest")
    tempest.add_argument(
        "--accounts",
        metavar="FILE|auto",
        help="Tempest accounts.yaml, or 'auto': make test accounts with admin rights",
    )
    tempest.add_argument(
        "--image",
        metavar="FILE|generate",
        help="image file the compute and image tests upload and boot; 'generate': a tiny raw "
        "disk tcup writes (for a cloud with a fake hypervisor). Default: an image already in "
        "Glance that Nova can boot (compute targets), else the tiny one",
    )
    tempest.add_argument(
        "--validation",
        choices=("auto", "on", "off"),
        default="auto",
        help="SSH into guests in compute tests ([validation] run_validation): auto (default) "
        "turns it on when planned tests need it and the cloud has a way to reach guests",
    )
    tempest.add_argument(
        "--ssh-user",
        metavar="USER",
        help="user the image lets in with the keypair (default: the image's ssh_user or "
        "os_admin_user property, else cirros)",
    )
    tempest.add_argument(
        "--tempest-overrides",
        type=Path,
        metavar="INI",
        help="INI merged into the generated tempest.conf, section by section",
    )
    tempest.add_argument(
        "--tempest-conf",
        type=Path,
        metavar="FILE",
        help="use this tempest.conf whole instead of generating one",
    )
    tempest.add_argument(
        "--workspace",
        type=Path,
        metavar="DIR",
        help="Tempest workspace (default: one per cloud under $TCUP_CACHE_DIR)",
    )
    tempest.add_argument(
        "--concurrency",
        type=positive_int,
        metavar="N",
        help="parallel test workers (default: number of CPUs)",
    )
    tempest.add_argument(
        "--test-timeout",
        type=positive_int,
        metavar="SECONDS",
        help="per-test timeout (OS_TEST_TIMEOUT)",
    )
    tempest.add_argument(
        "--skip-missing-services",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="do not run tests of services the catalog lacks (default: true)",
    )
    output = parser.add_argument_group("output and upload")
    output.add_argument(
        "--out", type=Path, default=Path("tcup-out"), metavar="DIR", help="output directory"
    )
    output.add_argument(
        "--url", metavar="URL", help="RefStack-compatible API root to upload to (without /v1)"
    )
    output.add_argument("--key", type=Path, metavar="FILE", help="RSA private key to sign with")
    output.add_argument(
        "--rerun",
        type=Path,
        metavar="DIR",
        help="run again only the tests that did not pass in the earlier run in DIR (its output "
        "directory) and merge the results there; guideline, target and add-ons come from "
        "its manifest.json",
    )


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    from tcup.accounts import AUTO
    from tcup.errors import InputError
    from tcup.resources import GENERATE

    if not args.guideline and not args.rerun:
        raise InputError(
            "tcup run needs --guideline (or --rerun DIR)",
            hint="e.g. --guideline 2020.06 --target platform",
        )
    from tcup.run import RunOptions
    from tcup.run import run as run_pipeline

    options = RunOptions(
        guideline=args.guideline,
        target=args.target,
        add_ons=tuple(args.add_on or ()),
        guideline_source=args.guideline_source,
        statuses=tuple(args.statuses or ("required",)),
        out=args.out,
        cloud=args.os_cloud,
        region=args.os_region_name,
        cacert=args.os_cacert,
        insecure=args.insecure,
        accounts=None if args.accounts in (None, AUTO) else Path(args.accounts),
        auto_accounts=args.accounts == AUTO,
        image=args.image if args.image in (None, GENERATE) else Path(args.image),
        validation=args.validation,
        ssh_user=args.ssh_user,
        tempest_overrides=args.tempest_overrides,
        tempest_conf=args.tempest_conf,
        workspace=args.workspace,
        concurrency=args.concurrency,
        test_timeout=args.test_timeout,
        skip_missing_services=_truthy(args.skip_missing_services),
        url=args.url,
        key=args.key,
        rerun=args.rerun,
    )
    return run_pipeline(options, stdout)
