"""``tcup launch``: run ``tcup run`` inside the tcup image from the host."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from tcup.accounts import AUTO
from tcup.commands.check import positive_int
from tcup.launch import DEFAULT_IMAGE, KEY_MOUNT, OUT_MOUNT, LaunchOptions, launch

NAME = "launch"
HELP = "run `tcup run` in the tcup container image (Docker), with your credentials and files"
DESCRIPTION = f"""\
Run `tcup run` in the tcup image through the local Docker engine, so nothing
but Docker and this command is needed on the host.

example:
  source openrc
  tcup launch --guideline 2020.06 --target object --out results/
  tcup launch --os-cloud mycloud --guideline interop/2020.06.json --target storage \\
      --key ~/.ssh/tcup_key --url https://refstack.example.org/api -- --test-timeout 600

what the container gets:
  credentials  your OS_* variables, passed in its environment (never on a command line,
               never printed); or, with --os-cloud / OS_CLOUD, your clouds.yaml (and
               secure.yaml beside it) mounted read-only under /etc/openstack.  Files named
               by OS_CACERT, OS_CERT, OS_KEY are mounted read-only too.
  inputs       a --guideline, --add-on, --guideline-source or --accounts that names a local
               file or directory is mounted read-only; a version name or URL passes as is
  key          --key FILE is mounted read-only at {KEY_MOUNT}
  output       --out DIR (created if needed) is mounted at {OUT_MOUNT} and written as your
               uid:gid, so the results belong to you
  network      the host's (a cloud on loopback or behind your VPN is reachable)
  anything after `--` goes to `tcup run` unchanged (paths there are container paths)

The container's output is shown live and its exit code is returned; the
container is removed at the end and on Ctrl-C (after letting `tcup run` keep
its partial results).  The image is built with `make image` (container/build).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--container-image",
        default=DEFAULT_IMAGE,
        metavar="REF",
        help=f"the tcup image to run (default: {DEFAULT_IMAGE})",
    )
    run = parser.add_argument_group("passed to tcup run")
    run.add_argument("--guideline", metavar="G", help="a version (2020.06), a file or a URL")
    run.add_argument("--target", metavar="T", help="target: platform, compute, object, ...")
    run.add_argument(
        "--add-on", action="append", default=[], metavar="A", help="add-on guideline; repeatable"
    )
    run.add_argument("--guideline-source", metavar="SRC", help="a directory or a server URL")
    run.add_argument(
        "--accounts",
        metavar="FILE|auto",
        help="Tempest accounts.yaml, or 'auto': make test accounts with admin rights",
    )
    run.add_argument("--concurrency", type=positive_int, metavar="N", help="parallel test workers")
    run.add_argument(
        "--image",
        metavar="FILE|generate",
        help="image file for the compute and image tests (mounted read-only), or 'generate'",
    )
    run.add_argument(
        "--validation", choices=("auto", "on", "off"), help="SSH into guests in compute tests"
    )
    run.add_argument(
        "--rerun",
        type=Path,
        metavar="DIR",
        help="run again what did not pass in the earlier output directory DIR (mounted as the "
        "output); give --guideline again if it was a file",
    )
    run.add_argument("--url", metavar="URL", help="RefStack-compatible API root to upload to")
    run.add_argument("--key", type=Path, metavar="FILE", help="RSA private key to sign with")
    run.add_argument(
        "--out", type=Path, default=Path("tcup-out"), metavar="DIR", help="output directory"
    )
    cloud = parser.add_argument_group("cloud")
    cloud.add_argument("--os-cloud", metavar="NAME", help="cloud from clouds.yaml")
    cloud.add_argument(
        "--clouds-yaml",
        type=Path,
        metavar="FILE",
        help="the clouds.yaml to mount (default: where openstacksdk looks)",
    )
    parser.add_argument(
        "run_args", nargs="*", metavar="-- RUN_ARGS", help="more `tcup run` arguments, unchanged"
    )


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    options = LaunchOptions(
        image=args.container_image,
        out=args.out,
        guideline=args.guideline,
        target=args.target,
        add_ons=tuple(args.add_on or ()),
        guideline_source=args.guideline_source,
        url=args.url,
        concurrency=args.concurrency,
        key=args.key,
        os_cloud=args.os_cloud,
        clouds_yaml=args.clouds_yaml,
        accounts=None if args.accounts in (None, AUTO) else Path(args.accounts),
        auto_accounts=args.accounts == AUTO,
        os_image=args.image,
        validation=args.validation,
        rerun=args.rerun,
        run_args=tuple(args.run_args),
    )
    return launch(options, stdout)
