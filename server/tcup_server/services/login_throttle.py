"""Slow down password guessing without letting anyone lock an account's owner out.

Failed logins are counted per (account name, client address), and per client
address over all names.  After ``free_failures`` failures in a row a pair must
wait ``backoff`` seconds before its next try, then twice as long after each
further failure, up to ``max_backoff`` (15, 30, 60 ... 900 s by default); an
address gets the same after ``address_free_failures`` failures whatever the
names.  While it waits, a try is refused (HTTP 429 with ``Retry-After``) before
the password is looked at.  The owner's correct password from any *other*
address is never refused: a stranger can slow only their own address.  A
success clears the pair's count; counts are forgotten a day after the last
failure.

IPv6 addresses count by their /64 (one host usually holds the whole prefix),
IPv4 addresses one by one.  The counts live in the database
(:class:`~tcup_server.models.LoginFailure`), so every server process and worker
sees the same ones; each change is its own short transaction, committed
whatever becomes of the login request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import case, delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tcup_server.models import LoginFailure, utcnow

LOG = logging.getLogger(__name__)

ANY_ACCOUNT = "*"  # the account_sha256 of an address's row over every name


@dataclass(frozen=True)
class Policy:
    """When to start waiting and for how long (seconds)."""

    free_failures: int = 5
    address_free_failures: int = 20
    backoff: int = 15
    max_backoff: int = 900
    forget_after: int = 86400

    def delay(self, failures: int, free: int) -> int:
        """Seconds to wait after the ``failures``-th failure in a row (0 while free)."""
        if failures < free:
            return 0
        return min(self.backoff * 2 ** min(failures - free, 32), self.max_backoff)


def client_key(host: str | None) -> str:
    """What counts as one client: the IPv4 address, the IPv6 /64, else the raw text."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def account_key(name: str) -> str:
    """The stored form of an account name: sha256 of its case-folded text."""
    return hashlib.sha256(name.strip().casefold().encode("utf-8", "replace")).hexdigest()


class LoginThrottle:
    """The login throttle of one database; cheap to make, so one per request is fine."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        policy: Policy | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self.policy = policy or Policy()
        self._clock = clock

    def _keys(self, name: str, host: str | None) -> list[tuple[str, str, int]]:
        address = client_key(host)
        return [
            (account_key(name), address, self.policy.free_failures),
            (ANY_ACCOUNT, address, self.policy.address_free_failures),
        ]

    def wait(self, name: str, host: str | None) -> int:
        """Seconds before a login for ``name`` from ``host`` may be tried (0: now)."""
        now = self._clock()
        keys = self._keys(name, host)
        with self._sessions() as db:
            rows = [db.get(LoginFailure, (account, address)) for account, address, _ in keys]
        waits = [
            (row.blocked_until - now).total_seconds()
            for row in rows
            if row is not None and row.blocked_until is not None and row.blocked_until > now
        ]
        return max((math.ceil(w) for w in waits), default=0)

    def failed(self, name: str, host: str | None) -> int:
        """Count one failed login; returns the seconds the next try must wait.

        One transaction: both counts, and the pruning of rows nobody failed for a day.
        Each count is an UPDATE first, so it takes the write lock (SQLite) or the row
        lock (PostgreSQL) before reading the count it adds to.
        """
        now = self._clock()
        forget = now - dt.timedelta(seconds=self.policy.forget_after)
        for attempt in range(3):  # a concurrent first failure may insert a row before us
            try:
                with self._sessions() as db, db.begin():
                    waits = [
                        self._count(db, account, address, free, now, forget)
                        for account, address, free in self._keys(name, host)
                    ]
                    db.execute(delete(LoginFailure).where(LoginFailure.last_failure_at < forget))
                    return max(waits)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _count(
        self,
        db: Session,
        account: str,
        address: str,
        free: int,
        now: dt.datetime,
        forget: dt.datetime,
    ) -> int:
        """Add one failure to the row of (account, address); the seconds it must now wait."""
        where = (LoginFailure.account_sha256 == account, LoginFailure.address == address)
        failures = db.execute(
            update(LoginFailure)
            .where(*where)
            .values(
                failures=case(
                    (LoginFailure.last_failure_at < forget, 1),
                    else_=LoginFailure.failures + 1,
                ),
                last_failure_at=now,
            )
            .returning(LoginFailure.failures)
            .execution_options(synchronize_session=False)
        ).scalar()
        if failures is None:
            failures = 1
            db.add(
                LoginFailure(
                    account_sha256=account, address=address, failures=1, last_failure_at=now
                )
            )
            db.flush()
        delay = self.policy.delay(failures, free)
        until = now + dt.timedelta(seconds=delay) if delay else None
        db.execute(
            update(LoginFailure)
            .where(*where)
            .values(blocked_until=until)
            .execution_options(synchronize_session=False)
        )
        return delay

    def succeeded(self, name: str, host: str | None) -> None:
        """A correct password: forget this pair's failures (the address's count stays)."""
        account, address, _ = self._keys(name, host)[0]
        with self._sessions() as db, db.begin():
            db.execute(
                delete(LoginFailure).where(
                    LoginFailure.account_sha256 == account, LoginFailure.address == address
                )
            )
