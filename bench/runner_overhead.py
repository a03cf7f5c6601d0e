"""How much does ``tcup run`` cost on top of Tempest, and how does it compare with refstack-client?

One invocation, one cloud (the loopback reference cloud, ``tools/cloud/up``),
2020.06 "OpenStack Powered Platform" (``platform``, 273 tests) and "OpenStack
Powered Storage" (``object``, 58 tests); ``--targets`` picks them.  For each
target three ways of running the same list, all as the admin:

  (c) ``tcup run --accounts auto`` (``--image generate`` for Platform), the mode
      a vendor runs to get a qualifying verdict, as a new process, end to end:
      pre-flight, a pool of test accounts made, tempestconf, listing, the run,
      the tests that skip on those accounts run with dynamic credentials
      (beside the others once the workspace knows them), the pool removed,
      collect, report.  Warm workspace and
      ``stestr list`` cache (from an untimed first run, also printed).
  (a) plain ``stestr run --load-list`` of (c)'s test list, with (c)'s
      concurrency (``--concurrency``, default the CPU count), in a workspace
      configured the way (c)'s is: a pool of test accounts made with tcup's
      own code (the pool of (c) is gone when (c) ends; this one lives until
      the target's rounds end)
      and ``tempest.conf`` written by tcup's ``configure`` for that pool,
      with the same image, networks and validation.  Plain stestr does not
      run again what Tempest skips on pre-provisioned accounts, so its
      outcome can hold a skip that (c) turns into a pass.
  (b) refstack-client's ``test --test-list`` way, with dynamic credentials:
      ``stestr list`` (refstack-client maps the list onto the local ids on
      every run), then ``tempest run --serial`` with an include-list of
      ``name\\[`` regexes.  Its ``tempest.conf`` is what tcup writes for
      dynamic credentials: for Platform with validation over fixed IPs on the
      shared network (``[compute] fixed_network_name``, ``[auth]
      create_isolated_networks = False``), so the compute tests can pass.
      Both steps are what its user waits for; the ``tempest run`` step alone
      (refstack-client's ``duration_seconds``) is printed too.

Each side's outcome is printed (passed / failed / skipped tests, and the
verdict tcup's scoring gives them; for (c) also its exit code): a speed-up
only counts when both sides produce the same outcome.

Targets (printed, not asserted): (c) <= 1.05 x (a) + 10 s, and (b)/(c) >= 3 on
Platform and >= 2.5 on Storage, with (c) exiting 0.

    OS_CLIENT_CONFIG_FILE=.cloud/clouds.yaml .venv/bin/python bench/runner_overhead.py

For each target (c), (a) and (b) run interleaved for --rounds rounds (default
3), so that a slow spell of the shared machine hits all three, and the medians
are compared.  ``--lock FILE`` takes an flock on FILE for each Tempest run and
configuration step only, so that on a shared machine other heavy jobs can run
between them (never during a timed run); without it, hold the lock around the
whole invocation.  With 3 rounds it takes about 45 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INTEROP = Path(os.environ.get("TCUP_INTEROP_DIR") or REPO.parent / "shared" / "interop")
BIN = Path(sys.executable).parent
#: (b)/(c) wanted per target; Storage is ``object`` in 2020.06
SPEED_UP = {"platform": 3.0, "object": 2.5, "storage": 2.5}
COMPUTE_TARGETS = ("platform", "compute")


@contextlib.contextmanager
def heavy(lock: Path | None) -> Iterator[None]:
    """Hold ``lock`` (an flock) for one heavy step, saying how long it waited."""
    if lock is None:
        yield
        return
    with open(lock, "a", encoding="utf-8") as handle:
        start = time.monotonic()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"   waiting for {lock} ...", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
            print(f"   got it after {time.monotonic() - start:.0f} s", flush=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def busy_fraction(seconds: float = 1.0) -> float:
    """The share of CPU time not idle over the next ``seconds``, all cores together."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def settle(limit: float = 30.0, busy: float = 0.15) -> None:
    """Wait (at most ``limit`` seconds) until the cloud is done with the previous run.

    Swift's updaters and replicators, Keystone's and the other services' periodic
    work go on for seconds after a run; every measured run starts after them, so
    that no run pays for the one before it.
    """
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if busy_fraction() < busy:
            break
    print(f"   cloud settled after {time.monotonic() - start:.1f} s", flush=True)


def timed(label: str, lock: Path | None, fn: Callable[[], object]) -> tuple[float, object]:
    print(f"-- {label} ...", flush=True)
    with heavy(lock):
        settle()
        start = time.monotonic()
        value = fn()
        took = time.monotonic() - start
    print(f"   {took:.1f} s", flush=True)
    return took, value


@dataclass(frozen=True)
class Outcome:
    """What one run produced: tests per state and the verdict tcup's scoring gives them."""

    passed: int
    failed: int
    skipped: int
    fixture_errors: int
    qualifies: bool
    verdict: str
    exit_code: int | None = None
    not_run: int = 0  # loaded tests with no result

    def text(self) -> str:
        line = f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"
        if self.not_run:
            line += f", {self.not_run} no result"
        if self.fixture_errors:
            line += f", {self.fixture_errors} class fixture error(s)"
        if self.exit_code is not None:
            line += f"; exit {self.exit_code}"
        return f"{line}; {self.verdict}"


@dataclass
class Side:
    key: str
    label: str
    times: list[float] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    extra: list[float] = field(default_factory=list)  # (b): the tempest run step alone


def outcome_of(results, planned: Sequence[str], score_fn, exit_code=None) -> Outcome:  # noqa: ANN001
    """Count the planned tests by state; ``results`` is a ``RunResults`` or ``LoadedResults``."""
    from tcup.report import verdict
    from tcup.testids import refstack_name

    states = results.states()
    run_results = getattr(results, "results", results)
    fixtures = len(run_results.fixtures) if run_results is not None else 0

    names = {refstack_name(t) for t in planned}
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for name in names:
        state = states.get(name)
        if state in counts:
            counts[state] += 1
    seen = sum(counts.values())
    score = score_fn(states)
    return Outcome(
        counts["passed"],
        counts["failed"],
        counts["skipped"],
        fixtures,
        score.qualifies,
        verdict(score),
        exit_code,
        len(names) - seen,
    )


def last_run(workspace: Path, env: dict[str, str]):  # noqa: ANN201
    """The last stestr run of a workspace's repository, parsed."""
    from tcup.listing import _stestr
    from tcup.results import read_subunit

    proc = subprocess.run(
        [_stestr(), "last", "--subunit"], cwd=workspace, env=env, capture_output=True, check=False
    )
    return read_subunit(proc.stdout, str(workspace / ".stestr"))


def compute_setup(conn, info, names: Sequence[str], workspace: Path, image: str):  # noqa: ANN001, ANN201
    """Image, networks and validation as ``tcup run --image IMAGE`` decides them."""
    from tcup import cloud, configure, resources

    if not info.has_service("compute"):
        return None
    if not any(cloud.service_for_test(n) == "compute" for n in names):
        return None
    workspace = configure.init_workspace(workspace)
    local = resources.local_image(image, workspace)
    has_network = info.has_service("network")
    networks = resources.find_networks(conn) if has_network else resources.Networks()
    validation = resources.decide_validation(
        "auto",
        resources.tests_needing_validation(names),
        has_compute=True,
        has_network=has_network,
        networks=networks,
        image=local,
    )
    return resources.ComputeSetup(local, validation, networks)


def conf_values(conf: Path, keys: Sequence[tuple[str, str]]) -> str:
    import configparser

    parser = configparser.RawConfigParser(strict=False)
    parser.read(conf, encoding="utf-8")
    return ", ".join(f"[{s}] {k} = {parser.get(s, k, fallback='(unset)')}" for s, k in keys)


def bench_target(target: str, args: argparse.Namespace, work: Path) -> dict:
    from tcup import accounts, cloud, configure, execute
    from tcup.listing import _stestr, listing_for_plan
    from tcup.results import load_results
    from tcup.run import load_plan, services_for_plan
    from tcup.scoring import score_run

    lock = args.lock
    compute_target = target in COMPUTE_TARGETS
    test_plan, guideline, _ = load_plan(args.guideline, target)
    names = [t.name for t in test_plan.tests]
    root = work / target
    root.mkdir(parents=True, exist_ok=True)
    print(f"\n=== 2020.06 {target}: {len(test_plan)} tests ===", flush=True)

    def score_fn(states, not_in_tempest=()):  # noqa: ANN001, ANN202
        return score_run(guideline, test_plan.target, states, not_in_tempest=not_in_tempest)

    # (c): tcup run --accounts auto as the admin, a new process each time
    ws_c = root / "ws-c"
    c_argv = [str(BIN / "tcup"), "run", "--guideline", args.guideline, "--target", target]
    c_argv += ["--os-cloud", args.admin_cloud, "--accounts", "auto", "--workspace", str(ws_c)]
    concurrency = args.concurrency or execute.default_concurrency()
    if args.concurrency:
        c_argv += ["--concurrency", str(concurrency)]
    image_flag = f" --image {args.image}" if compute_target else ""
    if compute_target:
        c_argv += ["--image", args.image]

    def tcup_run(out: Path) -> int:
        with open(out.with_suffix(".log"), "w", encoding="utf-8") as log:
            proc = subprocess.run(
                [*c_argv, "--out", str(out)], stdout=log, stderr=subprocess.STDOUT, check=False
            )
        return proc.returncode

    def c_outcome(out: Path, code: int) -> Outcome:
        loaded = load_results(out)
        planned = (out / "test-list.txt").read_text(encoding="utf-8").split()
        return outcome_of(
            loaded,
            planned,
            lambda s: score_fn(s, loaded.not_in_tempest),
            exit_code=code,
        )

    cold, code = timed(
        f"warm-up: (c) tcup run, cold workspace (not compared): {' '.join(c_argv[1:])}",
        lock,
        lambda: tcup_run(root / "out-c0"),
    )
    cold_outcome = c_outcome(root / "out-c0", code)
    print(f"   {cold_outcome.text()}")
    # the whole list (tests that ran with dynamic credentials beside the others included)
    load_ids = (root / "out-c0" / "test-list.txt").read_text(encoding="utf-8").split()

    admin = cloud.load_credentials(args.admin_cloud)
    needed = services_for_plan(test_plan, [guideline])
    info = cloud.preflight(admin, sorted(needed), fail_on_missing=False)
    conn = cloud.connection(admin)

    # (a): a pool made as (c) makes it, a workspace configured on it as (c)'s is
    ws_a = root / "ws-a"
    with heavy(lock):
        compute_a = compute_setup(conn, info, names, ws_a, args.image) if compute_target else None
    pool = accounts.provision(
        conn,
        root / "ws-a-accounts.yaml",
        concurrency,
        domain=info.project_domain,
        object_storage=info.has_service("object-store"),
        resellers=accounts.resellers_needed(load_ids, concurrency),
        sweep=[s for s in ("compute", "network", "block-storage") if info.has_service(s)],
        project_networks=bool(
            compute_a and info.has_service("network") and not compute_a.networks.shared
        ),
    )
    try:
        with heavy(lock):
            configured_a = configure.configure(
                ws_a,
                admin,
                info,
                configure.ConfigureOptions(
                    accounts=pool.path, accounts_made=True, compute=compute_a
                ),
            )
            ids_a = list(listing_for_plan(configured_a.workspace, test_plan).matched_ids)
        if sorted(ids_a) != sorted(load_ids):
            print(
                f"   NOTE: (a)'s listing matches {len(ids_a)} ids, (c) loaded {len(load_ids)}; "
                "(a) runs (c)'s list"
            )
        list_a = root / "load-list-a.txt"
        execute.write_load_list(list_a, load_ids)
        env_a = dict(
            os.environ, TEMPEST_CONFIG_DIR=str(ws_a / "etc"), TEMPEST_CONFIG="tempest.conf"
        )
        print(f"   (a) workspace: {configured_a.mode}, {len(pool.accounts)} accounts")

        def plain_stestr() -> int:
            with open(root / "a.log", "w", encoding="utf-8") as log:
                return subprocess.run(
                    [
                        _stestr(),
                        "run",
                        "--concurrency",
                        str(concurrency),
                        "--load-list",
                        str(list_a),
                    ],
                    cwd=ws_a,
                    env=env_a,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    check=False,
                ).returncode

        # (b): admin, dynamic credentials, tempest.conf as tcup writes it for them
        ws_b = root / "ws-b"
        with heavy(lock):
            compute_b = (
                compute_setup(conn, info, names, ws_b, args.image) if compute_target else None
            )
            configured_b = configure.configure(
                ws_b, admin, info, configure.ConfigureOptions(compute=compute_b)
            )
            matched_b = listing_for_plan(configured_b.workspace, test_plan).matched_ids
        print(f"   (b) workspace: {configured_b.mode} credentials", end="")
        if compute_b is not None:
            keys = [
                ("validation", "run_validation"),
                ("validation", "connect_method"),
                ("compute", "fixed_network_name"),
                ("auth", "create_isolated_networks"),
            ]
            print("; " + conf_values(configured_b.conf, keys), end="")
        print()
        regexes = root / "include-list.txt"
        regexes.write_text(
            "".join(re.escape(t.split("[")[0]) + r"\[" + "\n" for t in matched_b),
            encoding="utf-8",
        )
        env_b = dict(
            os.environ, TEMPEST_CONFIG_DIR=str(ws_b / "etc"), TEMPEST_CONFIG="tempest.conf"
        )
        run_only: list[float] = []

        def refstack_way() -> int:
            with open(root / "b.log", "w", encoding="utf-8") as log:
                subprocess.run(
                    [_stestr(), "list"],
                    cwd=ws_b,
                    env=env_b,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    check=False,
                )
                start = time.monotonic()
                code = subprocess.run(
                    [str(BIN / "tempest"), "run", "--serial", "--include-list", str(regexes)],
                    cwd=ws_b,
                    env=env_b,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    check=False,
                ).returncode
                run_only.append(time.monotonic() - start)
            return code

        sides = {
            "c": Side("c", f"(c) tcup run --accounts auto{image_flag} (admin)"),
            "a": Side("a", "(a) plain stestr run --load-list"),
            "b": Side("b", "(b) refstack-client way: stestr list + tempest run --serial"),
        }
        for n in range(1, args.rounds + 1):
            out = root / f"out-c{n}"
            took, code = timed(f"{target} round {n}: (c) tcup run", lock, lambda o=out: tcup_run(o))
            sides["c"].times.append(took)
            sides["c"].outcomes.append(c_outcome(out, code))
            print(f"   {sides['c'].outcomes[-1].text()}")

            took, _ = timed(
                f"{target} round {n}: (a) plain stestr run --load-list ({len(load_ids)} tests)",
                lock,
                plain_stestr,
            )
            sides["a"].times.append(took)
            results = last_run(ws_a, env_a)
            sides["a"].outcomes.append(outcome_of(results, load_ids, score_fn))
            print(f"   {sides['a'].outcomes[-1].text()}")

            took, _ = timed(
                f"{target} round {n}: (b) stestr list + tempest run --serial, dynamic "
                f"credentials ({len(matched_b)} tests)",
                lock,
                refstack_way,
            )
            sides["b"].times.append(took)
            sides["b"].extra.append(run_only[-1])
            results = last_run(ws_b, env_b)
            sides["b"].outcomes.append(outcome_of(results, matched_b, score_fn))
            print(f"   {sides['b'].outcomes[-1].text()}")
    finally:
        left = accounts.remove(conn, pool)
        if left:
            print(f"   could not remove (a)'s test accounts: {', '.join(left)}")
    return {
        "target": target,
        "tests": len(test_plan),
        "loaded": len(load_ids),
        "cold": cold,
        "cold_outcome": cold_outcome,
        "sides": sides,
        "concurrency": concurrency,
    }


def execute_cores() -> int:
    from tcup import execute

    return execute.default_concurrency()


def fmt_rounds(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def ratios(top: Sequence[float], bottom: Sequence[float]) -> str:
    return ", ".join(f"{x / y:.2f}" for x, y in zip(top, bottom, strict=True))


def report(result: dict, rounds: int) -> None:
    target, sides = result["target"], result["sides"]
    c, a, b = (statistics.median(sides[k].times) for k in ("c", "a", "b"))
    b_run = statistics.median(sides["b"].extra)
    want = SPEED_UP.get(target, 2.5)
    print()
    print(
        f"2020.06 {target}: {result['tests']} tests planned, {result['loaded']} loaded; "
        f"medians of {rounds} interleaved round(s), each round in brackets; "
        f"{result['concurrency']} workers for (c) and (a) on {execute_cores()} cores"
    )
    width = 62
    for key in ("c", "a", "b"):
        side = sides[key]
        median = statistics.median(side.times)
        print(f"{side.label:<{width}} {median:7.1f} s  ({fmt_rounds(side.times)})")
        if key == "b":
            print(
                f"{'    of which tempest run --serial':<{width}} {b_run:7.1f} s  "
                f"({fmt_rounds(side.extra)})"
            )
    print(f"{'(c) cold first run, not compared':<{width}} {result['cold']:7.1f} s")
    limit = 1.05 * a + 10
    print(
        f"(c) - (a) = {c - a:.1f} s, c/a = {c / a:.2f}; target (c) <= 1.05 x (a) + 10 = "
        f"{limit:.1f} s: {'met' if c <= limit else 'NOT met'}"
    )
    per_round = ratios(sides["b"].times, sides["c"].times)
    print(
        f"(b)/(c) = {b / c:.2f} x ({per_round}); target >= {want}: "
        f"{'met' if b / c >= want else 'NOT met'}"
    )
    per_round = ratios(sides["b"].extra, sides["c"].times)
    print(f"(b tempest run only)/(c) = {b_run / c:.2f} x ({per_round})")
    print("outcomes:")
    for key in ("c", "a", "b"):
        texts = [o.text() for o in sides[key].outcomes]
        if len(set(texts)) == 1:
            print(f"  ({key}) {texts[0]}" + (" (every round)" if len(texts) > 1 else ""))
        else:
            for n, text in enumerate(texts, 1):
                print(f"  ({key}) round {n}: {text}")
    codes = [o.exit_code for o in sides["c"].outcomes]
    print(f"  (c) cold first run: {result['cold_outcome'].text()}")
    print(f"  (c) exit 0 in every round: {'yes' if all(x == 0 for x in codes) else 'NO'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-cloud", default="tcup-reference-admin")
    parser.add_argument("--guideline", default=str(INTEROP / "2020.06.json"))
    parser.add_argument(
        "--targets", default="platform,object", help="comma-separated (default: platform,object)"
    )
    parser.add_argument("--image", default="generate", help="--image of the compute targets")
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temp dir)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of (c), (a), (b)")
    parser.add_argument(
        "--concurrency",
        type=int,
        help="workers of (c) and (a) (default: tcup's and stestr's default, the CPU count)",
    )
    parser.add_argument(
        "--lock", type=Path, help="flock this file around every Tempest run and configuration"
    )
    args = parser.parse_args()
    os.environ.setdefault("OS_CLIENT_CONFIG_FILE", str(REPO / ".cloud" / "clouds.yaml"))
    os.environ["OS_CLIENT_CONFIG_FILE"] = os.path.abspath(os.environ["OS_CLIENT_CONFIG_FILE"])
    # a SIGTERM unwinds like Ctrl-C, so that (a)'s pool of test accounts is removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    work = args.work or Path(tempfile.mkdtemp(prefix="tcup-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    results = [bench_target(target, args, work) for target in targets]
    print(f"\n===== runner overhead: {len(targets)} target(s), {args.rounds} round(s) =====")
    for result in results:
        report(result, args.rounds)
    print(f"\nwall time {time.monotonic() - start:.0f} s; scratch: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
