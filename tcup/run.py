"""``tcup run``: check -> plan -> configure -> execute -> collect -> report -> sign -> upload.

Each stage lives in its own module; this one only chains them and decides the
exit code.  Everything a run produces goes into one output directory (see
``docs/running.md``).  Whatever happens after the tests started, the raw
stream, the results, the report and the manifest are written before the exit
code is returned, so a failed upload or an interrupted run never loses work.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tcup import accounts as accounts_mod
from tcup import addons as addons_mod
from tcup import cloud as cloud_mod
from tcup import configure as configure_mod
from tcup import dynamic as dynamic_mod
from tcup import execute as execute_mod
from tcup import manifest as manifest_mod
from tcup import rerun as rerun_mod
from tcup import resources, settings
from tcup.errors import ExitCode, InputError, RunError, TcupError, UploadError

if TYPE_CHECKING:
    from tcup.guidelines import Guideline
    from tcup.results import RunResults
    from tcup.scoring import Score
    from tcup.testlist import PlannedTest, TestPlan

LOG = logging.getLogger(__name__)

INTERRUPTED = 130


@dataclass(frozen=True)
class RunOptions:
    """Everything ``tcup run`` needs, resolved from the command line and settings."""

    guideline: str | None
    out: Path
    target: str | None = None
    add_ons: tuple[str, ...] = ()
    guideline_source: str | None = None
    statuses: tuple[str, ...] = ("required",)
    cloud: str | None = None
    region: str | None = None
    cacert: str | None = None
    insecure: bool = False
    accounts: Path | None = None
    auto_accounts: bool = False  # make a pool of test accounts with admin rights (accounts.AUTO)
    image: Path | str | None = None  # a file, or resources.GENERATE
    validation: str = "auto"  # SSH into guests: auto, on or off
    ssh_user: str | None = None  # the image's login user for validation
    tempest_overrides: Path | None = None
    tempest_conf: Path | None = None
    workspace: Path | None = None
    concurrency: int | None = None
    test_timeout: int | None = None
    skip_missing_services: bool = True
    url: str | None = None
    key: Path | None = None
    extra_overrides: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)
    rerun: Path | None = None  # an earlier output directory: run what did not pass there again


# ------------------------------------------------------------------ planning


def load_plan(
    guideline: str,
    target: str | None,
    add_ons: Iterable[str] = (),
    source: str | None = None,
    statuses: Sequence[str] = ("required",),
) -> tuple[TestPlan, Guideline, list[Guideline]]:
    """Load the guideline and add-ons and plan the exact test list."""
    from tcup.sources import load_add_on, load_guideline
    from tcup.testlist import plan

    main = load_guideline(guideline, source)
    extra = [load_add_on(a, main, source) for a in add_ons]
    chosen = target if target else main.default_target
    return plan(main, chosen, extra, statuses=statuses), main, extra


def service_of(test: PlannedTest, guidelines: Sequence[Guideline] = ()) -> str | None:
    """The catalog service a planned test needs (capability first, then module path)."""
    project = None
    for g in guidelines:
        cap = g.capabilities.get(test.capability)
        if cap is not None:
            project = cap.project or None
            break
    return cloud_mod.service_for_capability(test.capability, project) or (
        cloud_mod.service_for_test(test.name)
    )


def services_for_plan(
    test_plan: TestPlan, guidelines: Sequence[Guideline] = ()
) -> dict[str, list[PlannedTest]]:
    """Service type -> the planned tests that need it (unknown service: not listed)."""
    needed: dict[str, list[PlannedTest]] = {}
    for test in test_plan.tests:
        service = service_of(test, guidelines)
        if service:
            needed.setdefault(service, []).append(test)
    return needed


def default_workspace(creds: cloud_mod.Credentials) -> Path:
    """One reusable Tempest workspace per cloud identity, in tcup's cache."""
    key = "|".join(
        str(x) for x in (creds.auth_url, creds.username, creds.project, creds.region_name)
    )
    return settings.cache_dir() / "workspaces" / hashlib.sha256(key.encode()).hexdigest()[:16]


@contextlib.contextmanager
def workspace_lock(workspace: Path) -> Iterator[None]:
    """Hold the workspace for one run: two runs in one Tempest workspace break each other.

    The lock is an advisory ``flock`` on ``<workspace>.lock`` beside it (``tempest
    init`` wants an empty directory); the kernel drops it when the process
    ends, so a crashed run never leaves it stale.
    """
    workspace = workspace.resolve()
    workspace.parent.mkdir(parents=True, exist_ok=True)
    path = workspace.with_name(workspace.name + ".lock")
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunError(
                f"the Tempest workspace {workspace} is in use by another tcup run (pid {holder})",
                hint="wait for that run to finish, or give this one its own --workspace DIR",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------- chain


def run(options: RunOptions, stdout: TextIO) -> int:
    """Run the whole pipeline; returns an :class:`~tcup.errors.ExitCode` (or 130)."""
    started = datetime.now(UTC)
    clock = time.monotonic()
    if options.auto_accounts and options.tempest_conf is not None:
        raise InputError(
            f"--accounts {accounts_mod.AUTO} makes accounts for the tempest.conf tcup writes; "
            "with --tempest-conf your file decides which accounts Tempest uses",
            hint="drop one of the two options",
        )
    earlier = rerun_mod.read_earlier(options.rerun) if options.rerun is not None else None
    if earlier is not None:
        options = rerun_mod.options_for(earlier, options)
    if not options.guideline:
        raise InputError("no guideline given", hint="pass --guideline (a version, a file or a URL)")
    test_plan, guideline, add_ons = load_plan(
        options.guideline,
        options.target,
        options.add_ons,
        options.guideline_source,
        options.statuses,
    )
    if earlier is not None:
        rerun_mod.check_same_plan(earlier, test_plan)
    guidelines = [guideline, *add_ons]
    needed = services_for_plan(test_plan, guidelines)
    print(
        f"guideline {test_plan.guideline_id}, target {test_plan.target}"
        + (f", add-ons {', '.join(test_plan.add_ons)}" if test_plan.add_ons else "")
        + f": {len(test_plan)} tests",
        file=stdout,
    )

    creds = cloud_mod.load_credentials(
        options.cloud, insecure=options.insecure, cacert=options.cacert, region_name=options.region
    )
    info = cloud_mod.preflight(
        creds,
        sorted(needed),
        fail_on_missing=not options.skip_missing_services,
        probe_unneeded=False,  # Tempest is configured without them
    )
    print(f"cloud {info.auth_url} as {info.user}/{info.project} (cpid {info.cpid})", file=stdout)
    if earlier is not None:
        rerun_mod.check_same_cloud(earlier, info.cpid)
    skipped_names = {t.name for s in info.missing for t in needed.get(s, [])}
    if info.missing:
        print(
            f"missing services: {', '.join(info.missing)}; their {len(skipped_names)} tests "
            "are not run",
            file=stdout,
        )
    for line in addons_mod.missing_lines(test_plan, guidelines, needed, info.missing):
        print(line, file=stdout)
    runnable = tuple(t for t in test_plan.tests if t.name not in skipped_names)
    for stype, reason in sorted(info.unreachable.items()):
        print(
            f"the {stype} endpoint {info.services.get(stype)} does not answer ({reason}); "
            "the target does not need it, so Tempest is configured without it",
            file=stdout,
        )

    out = earlier.out if earlier else Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    pass_stream = out / "results.subunit"  # where stestr's stream goes
    if earlier is not None:
        manifest = earlier.manifest
        number, pass_stream = rerun_mod.start_pass(earlier)
        manifest.passes.append(
            {
                "kind": "rerun",
                "started": manifest_mod.isoformat(started),
                "ended": None,
                "subunit": f"{rerun_mod.PASSES_DIR}/{pass_stream.name}",
                "exit_status": None,
            }
        )
        manifest.missing_services = list(info.missing)
        manifest.versions = manifest_mod.tool_versions()
        manifest.image_digest = manifest_mod.image_digest()
        print(f"pass {number} over {out}", file=stdout)
    else:
        manifest = _new_manifest(test_plan, info, started)
        manifest.guideline_spec = _spec(options.guideline)
        manifest.add_on_specs = [_spec(a) for a in options.add_ons]
        manifest.guideline_source = options.guideline_source and _spec(options.guideline_source)
    execution: execute_mod.ExecutionResult | None = None
    compute: resources.ComputeSetup | None = None
    add_on_run: addons_mod.AddOnRun | None = None
    load_ids: list[str] = []
    secrets: tuple[str, ...] = ()
    # what goes on while the results are collected and scored: removing the test
    # accounts tcup made (joined, and anything left named, once the report is written)
    ending = contextlib.ExitStack()
    with ending:
        # the workspace lock and the accounts tcup made, from configure to the end of execute
        held = contextlib.ExitStack()
        try:
            if runnable:
                workspace = options.workspace or default_workspace(creds)
                held.enter_context(workspace_lock(workspace))
                concurrency = options.concurrency or execute_mod.default_concurrency()
                compute = _compute_setup(
                    options, creds, info, runnable, workspace, manifest, stdout
                )
                accounts_file = options.accounts
                making = None
                if options.auto_accounts:
                    making = held.enter_context(
                        _made_accounts(
                            creds,
                            info,
                            workspace,
                            concurrency,
                            needed,
                            compute,
                            stdout,
                            ending,
                            resellers=accounts_mod.resellers_needed(
                                (t.name for t in runnable), concurrency
                            ),
                        )
                    )
                    accounts_file = making.path
                add_ons_made = _add_on_run(
                    options, creds, info, needed, runnable, compute, making, stdout
                )
                if add_ons_made is not None:  # left before the pool is removed
                    add_on_run = held.enter_context(add_ons_made)
                configured = configure_mod.configure(
                    workspace,
                    creds,
                    info,
                    configure_mod.ConfigureOptions(
                        accounts=accounts_file,
                        accounts_made=options.auto_accounts,
                        image=options.image,
                        compute=compute,
                        overrides=options.tempest_overrides,
                        tempest_conf=options.tempest_conf,
                        extra=options.extra_overrides,
                        add_ons=add_on_run,
                    ),
                )
                if making is not None:  # tempestconf ran while the pool was being made
                    configured = replace(
                        configured, secrets=configured.secrets + making.wait().secrets
                    )
                secrets = configured.secrets  # with the passwords of the accounts file
                manifest.credentials_mode = configured.mode
                (out / "tempest.conf").write_text(
                    configure_mod.redact_conf(configured.conf, secrets), encoding="utf-8"
                )
                load_ids = _match(
                    configured.workspace, replace(test_plan, tests=runnable), manifest, stdout
                )
                if earlier is not None:
                    load_ids = _choose_again(earlier, load_ids, manifest, stdout)
                else:
                    (out / "test-list.txt").write_text(
                        manifest_mod.test_list_text(load_ids), encoding="utf-8"
                    )
                    manifest.test_list_sha256 = manifest_mod.test_list_sha256(load_ids)
                manifest.concurrency = concurrency
                if load_ids and configured.mode == "auto-accounts":
                    # designate-tempest-plugin's classes want admin credentials: never on the pool
                    dynamic_mod.remember(configured.workspace, addons_mod.needing_admin(load_ids))
                if load_ids:
                    alongside = dynamic_mod.start_alongside(
                        configured, creds, load_ids, options.test_timeout, stdout
                    )
                    try:
                        execution = execute_mod.execute(
                            configured.workspace,
                            [t for t in load_ids if alongside is None or t not in alongside.ids],
                            pass_stream,
                            concurrency=concurrency,
                            test_timeout=options.test_timeout,
                            progress=dynamic_mod.OpenOnFirstResult(
                                execute_mod.progress_for(stdout), alongside
                            ),
                        )
                    finally:
                        if alongside is not None and execution is None:  # stestr did not start
                            alongside.cancel()
                            alongside.close()
                    execution = dynamic_mod.join(alongside, execution, manifest, stdout)
                    execution = dynamic_mod.rerun_skipped(
                        configured,
                        creds,
                        execution,
                        options.test_timeout,
                        manifest,
                        stdout,
                        alongside,
                    )
                    manifest.tests_run = execution.tests_reported
            elif earlier is None:
                (out / "test-list.txt").write_text("", encoding="utf-8")
                manifest.test_list_sha256 = manifest_mod.test_list_sha256([])
        except TcupError as exc:
            _finish(manifest, out, int(exc.exit_code), exc.message)
            raise
        except KeyboardInterrupt:
            _finish(manifest, out, INTERRUPTED, "interrupted before the tests ran")
            raise
        finally:
            held.close()

        duration = int(execution.duration) if execution else int(time.monotonic() - clock)
        stream = execution.subunit_path if execution else None
        if earlier is not None:
            duration += earlier.duration_seconds
            stream = _merge_pass(out, execution, load_ids)
        collected = _collect(out, stream, manifest, duration, execution)
        if earlier is not None:
            manifest.tests_run = sum(1 for t in collected.tests if t.kind == "test")
        score = _score(
            guideline, test_plan, add_ons, collected, skipped_names, manifest.not_in_tempest
        )
        _write_reports(out, score, stdout)
        _check_secrets(out, secrets)

    code = ExitCode.QUALIFIES if score.qualifies else ExitCode.NOT_QUALIFIED
    reason = "qualifies" if score.qualifies else "required capabilities missing"
    if execution is not None and not execution.complete:
        code = INTERRUPTED if execution.interrupted else ExitCode.RUN
        reason = f"test run incomplete: {execution.failure_reason}"
        print(f"tcup: {reason}; partial results are in {out}", file=stdout)
    elif execution is not None and compute is not None:
        broken = _compute_broken(creds, collected, manifest, stdout)
        if broken:
            code, reason = ExitCode.RUN, broken
            print(f"tcup: {reason}; partial results are in {out}", file=stdout)
    if add_on_run is not None:
        manifest.leftovers = list(add_on_run.leftovers.left)
        broken = addons_mod.dns_broken(add_on_run.leftovers, collected)
        if broken and code in (ExitCode.QUALIFIES, ExitCode.NOT_QUALIFIED):
            code, reason = ExitCode.RUN, broken
            print(f"tcup: {reason}; partial results are in {out}", file=stdout)

    # The manifest is final before an upload: a TCUP server gets it signed with the run.
    _finish(manifest, out, int(code), reason)
    if options.url and code in (ExitCode.QUALIFIES, ExitCode.NOT_QUALIFIED):
        try:
            _upload(out, options.url, options.key, stdout)
        except UploadError as exc:
            # the outbox keeps the signed copy; the manifest on disk says the upload failed
            _finish(manifest, out, int(ExitCode.UPLOAD), exc.message)
            raise
    return int(code)


def _add_on_run(
    options: RunOptions,
    creds: cloud_mod.Credentials,
    info: cloud_mod.CloudInfo,
    needed: Iterable[str],
    runnable: Sequence[PlannedTest],
    compute: resources.ComputeSetup | None,
    making: _Making | None,
    stdout: TextIO,
) -> contextlib.AbstractContextManager[addons_mod.AddOnRun] | None:
    """The DNS and Orchestration part of the run, when the plan has their tests."""
    services = addons_mod.add_on_services(s for s in needed if info.has_service(s))
    if not services or options.tempest_conf is not None:
        return None

    def pool_projects() -> list[str]:
        future = making.future if making is not None else None
        if future is None or not future.done() or future.exception() is not None:
            return []
        return list(future.result().project_ids)

    networks = compute.networks if compute is not None else None
    if networks is None and addons_mod.ORCHESTRATION in services and info.has_service("network"):
        networks = resources.find_networks(cloud_mod.connection(creds))  # for Heat's servers
    return addons_mod.prepared(
        creds,
        info,
        services,
        [t.name for t in runnable],
        accounts=None if options.auto_accounts else options.accounts,
        shared_network=networks.shared if networks else None,
        project_network=bool(networks and not networks.shared and info.has_service("network")),
        since=datetime.now(UTC),
        projects=pool_projects,
        stdout=stdout,
    )


def _compute_broken(
    creds: cloud_mod.Credentials,
    collected: RunResults,
    manifest: manifest_mod.Manifest,
    stdout: TextIO,
) -> str | None:
    """After a run with compute tests: tests that hit a quota, and a compute service that died.

    Failures on an exhausted quota are named (they are the cloud's limits, not
    its interoperability).  When nova-compute is down at the end, the servers
    of the compute tests could not be built: the run did not complete.
    """
    quota = resources.quota_failures(collected)
    if quota:
        manifest.quota_failures = quota
        print(
            f"{len(quota)} test(s) failed on an exhausted quota (raise the test projects' "
            f"quotas and run them again with --rerun): {', '.join(quota)}",
            file=stdout,
        )
    if not any(t.status == "failed" for t in collected.tests):
        return None
    down = resources.compute_hosts_down(cloud_mod.connection(creds))
    if down:
        return f"nova-compute is down on {', '.join(down)}: servers could not be built"
    return None


def _compute_setup(
    options: RunOptions,
    creds: cloud_mod.Credentials,
    info: cloud_mod.CloudInfo,
    runnable: Sequence[PlannedTest],
    workspace: Path,
    manifest: manifest_mod.Manifest,
    stdout: TextIO,
) -> resources.ComputeSetup | None:
    """Image, networks and validation for the compute tests; pre-flight errors before any test."""
    if options.tempest_conf is not None or not info.has_service("compute"):
        return None
    if not any(cloud_mod.service_for_test(t.name) == "compute" for t in runnable):
        return None
    conn = cloud_mod.connection(creds)
    if options.image is not None:
        workspace = configure_mod.init_workspace(workspace)  # tempest init wants it empty
        image = resources.local_image(options.image, workspace, options.ssh_user)
    else:
        found = resources.usable_image(conn, info.project_id, options.ssh_user)
        if found is None:
            raise resources.no_image_error(info.auth_url)
        image = found
    print(
        f"image for the compute tests: {image.describe()}, flavors of at least "
        f"{image.min_disk_gb} GiB disk and {image.min_ram_mb} MiB RAM",
        file=stdout,
    )
    has_network = info.has_service("network")
    networks = resources.find_networks(conn) if has_network else resources.Networks()
    needing = resources.tests_needing_validation([t.name for t in runnable])
    validation = resources.decide_validation(
        options.validation,
        needing,
        has_compute=True,
        has_network=has_network,
        networks=networks,
        image=image,
    )
    manifest.validation = {
        "enabled": validation.enabled,
        "reason": validation.reason,
        "connect_method": validation.connect_method,
        "tests": list(needing),
    }
    if validation.enabled:
        print(
            f"validation (SSH into guests as {validation.ssh_user or resources.DEFAULT_SSH_USER}, "
            f"{validation.connect_method} IPs) is on: {validation.reason}",
            file=stdout,
        )
    elif needing:
        required = [t.name for t in runnable if t.name in needing and t.status == "required"]
        print(
            f"validation (SSH into guests) is off: {validation.reason}; "
            f"{len(needing)} planned test(s) need it and will be skipped"
            + (f", so these required tests cannot pass: {', '.join(required)}" if required else ""),
            file=stdout,
        )
    return resources.ComputeSetup(image, validation, networks)


@dataclass
class _Making:
    """A pool of test accounts being made on a thread (see :func:`_made_accounts`)."""

    path: Path
    future: Future
    concurrency: int
    stdout: TextIO

    def wait(self) -> accounts_mod.Pool:
        """The pool once made; the error that stopped it (nothing is left of it then)."""
        pool = self.future.result()
        print(
            f"made {len(pool.accounts)} Tempest test accounts for {self.concurrency} workers; "
            "they are removed when the run ends",
            file=self.stdout,
        )
        return pool


#: the services whose resources compute tests make (servers, ports, volumes)
_COMPUTE_SERVICES = ("compute", "network", "block-storage")


@contextlib.contextmanager
def _made_accounts(
    creds: cloud_mod.Credentials,
    info: cloud_mod.CloudInfo,
    workspace: Path,
    concurrency: int,
    needed: Iterable[str],
    compute: resources.ComputeSetup | None,
    stdout: TextIO,
    ending: contextlib.ExitStack,
    resellers: int | None = None,
) -> Iterator[_Making]:
    """Make a pool of test accounts for this run and remove it when the tests end.

    The pool is made on a thread, so python-tempestconf (which only needs the
    file's path) runs meanwhile; :meth:`_Making.wait` joins it.  Whatever
    happens, removal waits until the making has ended.  The accounts file
    goes at once; the accounts themselves are deleted on a thread while the
    results are collected and scored, and ``ending`` joins that (and names
    what could not be deleted).  Leftovers are swept only from the services
    the planned tests use: a Storage run makes no server, port or volume.
    """
    if not info.is_admin:
        raise InputError(
            f"--accounts {accounts_mod.AUTO} makes Tempest test accounts, which needs the admin "
            f"role; user '{info.user}' has roles: {', '.join(info.roles) or 'none'}",
            hint="run with admin credentials, or give an accounts file with --accounts FILE",
        )
    conn = cloud_mod.connection(creds)
    uses_compute = any(s in _COMPUTE_SERVICES for s in needed)
    path = workspace.with_name(workspace.name + "-accounts.yaml")  # tempest init wants it empty
    executor = ThreadPoolExecutor(1, thread_name_prefix="tcup-accounts")
    future = executor.submit(
        accounts_mod.provision,
        conn,
        path,
        concurrency,
        domain=info.project_domain,
        object_storage=info.has_service("object-store"),
        sweep=[s for s in _COMPUTE_SERVICES if uses_compute and info.has_service(s)],
        # servers need a network: the shared one, else one per project
        project_networks=bool(
            compute and info.has_service("network") and not compute.networks.shared
        ),
        reader=accounts_mod.needs_reader(needed),
        resellers=resellers,
    )
    try:
        yield _Making(path, future, concurrency, stdout)
    finally:
        executor.shutdown(wait=True)
        pool = None if future.exception() is not None else future.result()
        if pool is not None:
            # the file while the workspace lock is held: the next run writes it again
            with contextlib.suppress(FileNotFoundError):
                pool.path.unlink()
            remover = ThreadPoolExecutor(1, thread_name_prefix="tcup-accounts-removal")
            ending.callback(_removed, remover.submit(accounts_mod.remove, conn, pool), stdout)
            remover.shutdown(wait=False)


def _removed(removal: Future, stdout: TextIO) -> None:
    """Wait for the pool's removal; name what it could not delete."""
    left = removal.result()
    if left:
        print(
            f"tcup: could not remove test accounts ({', '.join(left)}); "
            "delete them with the openstack client",
            file=stdout,
        )


def _match(
    workspace: Path, runnable_plan: TestPlan, manifest: manifest_mod.Manifest, stdout: TextIO
) -> list[str]:
    """The ids to load: the plan matched onto a listing made with the run's tempest.conf.

    Planned tests this Tempest does not have, and those it has under a new
    name, are said before any test runs and recorded in the manifest.
    """
    from tcup.listing import listing_for_plan

    matched = listing_for_plan(workspace, runnable_plan)
    manifest.renamed = dict(matched.renamed)
    manifest.not_in_tempest = [t.name for t in matched.missing]
    uuids = {t.name: t.uuid for t in runnable_plan.tests}
    for name, local in matched.renamed:
        if guideline_typo(name):
            manifest.guideline_typos[name] = local
            print(
                f"the guideline names a test with a typo: {name} (no test can have that name); "
                f"its idempotent id {uuids.get(name)} is {local}, which runs instead",
                file=stdout,
            )
        else:
            print(
                f"renamed in this Tempest (same idempotent id): {name} runs as {local}", file=stdout
            )
    if matched.missing:
        print(
            f"{len(matched.missing)} planned test(s) are not in this Tempest (no test has their "
            f"name, an alias or their idempotent id): {', '.join(manifest.not_in_tempest)}",
            file=stdout,
        )
    if not matched.matched_ids:
        raise RunError(
            "none of the planned tests exists in the installed Tempest",
            hint="install a Tempest release that matches the guideline",
        )
    return list(matched.matched_ids)


def guideline_typo(name: str) -> bool:
    """A guideline test name no Python test can have (``...template:Wherej``): a typo."""
    base = name.split("[", 1)[0]
    base = base[: base.index("(")] if "(" in base else base  # a scenario suffix is fine
    return not all(part.isidentifier() for part in base.split("."))


def _spec(value: str) -> str:
    """A guideline named by a local path is recorded absolute; a version or URL as is."""
    path = Path(value)
    return str(path.resolve()) if "://" not in value and path.exists() else value


def _new_manifest(
    test_plan: TestPlan, info: cloud_mod.CloudInfo, started: datetime
) -> manifest_mod.Manifest:
    return manifest_mod.Manifest(
        guideline=test_plan.guideline_id,
        guideline_sha256=test_plan.guideline_sha256,
        target=test_plan.target,
        add_ons=list(test_plan.add_ons),
        tests_planned=len(test_plan),
        cpid=info.cpid,
        auth_url=info.auth_url,
        region=info.region,
        missing_services=list(info.missing),
        started=manifest_mod.isoformat(started),
        versions=manifest_mod.tool_versions(),
        image_digest=manifest_mod.image_digest(),
    )


def _choose_again(
    earlier: rerun_mod.Earlier,
    load_ids: list[str],
    manifest: manifest_mod.Manifest,
    stdout: TextIO,
) -> list[str]:
    """Of the tests this Tempest would run, those that did not pass in the earlier run."""
    again = rerun_mod.not_passed(load_ids, earlier.states)
    this_pass = manifest.passes[-1]
    this_pass["tests"] = again
    this_pass["test_list_sha256"] = manifest_mod.test_list_sha256(again)
    (earlier.out / rerun_mod.PASSES_DIR / f"{len(manifest.passes)}-test-list.txt").write_text(
        manifest_mod.test_list_text(again), encoding="utf-8"
    )
    passed = len(load_ids) - len(again)
    if again:
        print(
            f"running again the {len(again)} test(s) that did not pass in {earlier.out} "
            f"({passed} passed there)",
            file=stdout,
        )
    else:
        print(f"every planned test passed in {earlier.out}; nothing to run again", file=stdout)
    return again


def _merge_pass(
    out: Path, execution: execute_mod.ExecutionResult | None, load_ids: Sequence[str]
) -> Path:
    """Fold a rerun's stream into ``results.subunit``: its results replace the earlier ones."""
    merged = out / "results.subunit"
    if execution is None:
        return merged
    first = merged.read_bytes() if merged.is_file() else b""
    again = execution.subunit_path.read_bytes() if execution.subunit_path.is_file() else b""
    tmp = merged.with_suffix(".subunit.tmp")
    tmp.write_bytes(rerun_mod.merge_streams(first, again, load_ids))
    tmp.replace(merged)
    return merged


def _collect(
    out: Path,
    stream: Path | None,
    manifest: manifest_mod.Manifest,
    duration: int,
    execution: execute_mod.ExecutionResult | None,
) -> RunResults:
    """subunit -> results model; RefStack body, extended JSON, JUnit next to it."""
    from tcup import results

    if execution is not None and execution.results is not None and stream == execution.subunit_path:
        run_results = execution.results  # parsed once, while stestr wrote it
    else:
        data = stream.read_bytes() if stream is not None and stream.is_file() else b""
        run_results = results.read_subunit(data, str(out / "results.subunit"))
    body = results.refstack_body(run_results, manifest.cpid or "", duration)
    (out / "results.json").write_bytes(results.dump_refstack(body))
    environment = results.RunEnvironment(
        tempest_version=manifest.versions.get("tempest"),
        guideline_id=manifest.guideline,
        guideline_sha256=manifest.guideline_sha256,
        target=manifest.target,
        add_ons=tuple(manifest.add_ons),
        cpid=manifest.cpid,
        started=_first_start(manifest, execution),
        ended=execution.ended if execution else None,
    )
    results.write_extended(out / "results-extended.json", run_results, environment)
    (out / "junit.xml").write_bytes(results.junit_xml(run_results))
    return run_results


def _score(
    guideline: Guideline,
    test_plan: TestPlan,
    add_ons: Sequence[Guideline],
    run_results: RunResults,
    not_run: set[str],
    not_in_tempest: Sequence[str] = (),
) -> Score:
    """Score the run; planned tests this Tempest lacks are "not in tempest", not failures."""
    from tcup.scoring import score_run

    states = run_results.states()  # with the idempotent ids: renamed tests count
    return score_run(
        guideline,
        test_plan.target,
        states,
        add_ons,
        not_run=not_run,
        not_in_tempest=not_in_tempest,
    )


def _write_reports(out: Path, score: Score, stdout: TextIO) -> None:
    from tcup import report

    report.write_reports(score, out)
    report.write_terminal(score, stdout)


def _upload(out: Path, url: str, key_path: Path | None, stdout: TextIO) -> None:
    from tcup import upload

    key = None
    if key_path is not None:
        from tcup import signing

        key = signing.load_private_key(key_path, signing.passphrase_from_env())
    receipts = upload.upload_run(out, url, key, key_path=key_path)
    for receipt in receipts:
        print(f"uploaded: {receipt.url}", file=stdout)


def _check_secrets(out: Path, secrets: Iterable[str]) -> None:
    """Last line of defence: no file of the output dir may hold a known secret."""
    values = [s.encode() for s in secrets if s and len(s) >= 4]
    if not values:
        return
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(v in data for v in values):
                path.unlink()
                raise RunError(
                    f"'{path.name}' held a secret of the cloud's credentials and was removed",
                    hint="please report this as a tcup bug",
                )


def _first_start(
    manifest: manifest_mod.Manifest, execution: execute_mod.ExecutionResult | None
) -> datetime | None:
    """When the tests began: the first pass's start on a rerun."""
    if manifest.passes and manifest.started:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(manifest.started)
    return execution.started if execution else None


def _finish(manifest: manifest_mod.Manifest, out: Path, code: int, reason: str) -> None:
    manifest.ended = manifest_mod.isoformat(datetime.now(UTC))
    manifest.exit_status = code
    manifest.exit_reason = reason
    if manifest.passes and manifest.passes[-1].get("kind") == "rerun":
        manifest.passes[-1].update(ended=manifest.ended, exit_status=code, exit_reason=reason)
    manifest_mod.write_manifest(out, manifest)
