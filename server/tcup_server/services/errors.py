"""The errors services raise: what went wrong, in the domain's words, never an HTTP status.

Services (review, publishing, keys, accounts, access) raise these; the API
layer (``tcup_server.errors.from_domain``) and the web pages
(``tcup_server.web.common``) alone turn them into HTTP answers, as the CLI
alone turns :class:`tcup.errors.TcupError` into exit codes.  They are
:class:`~tcup.errors.InputError` subclasses, so the server's command line
prints them as one line with exit code 2.

* :class:`NotFound` -- no such thing, or the caller may not see it (both
  answered alike, so a hidden id cannot be told from an unknown one);
* :class:`Forbidden` -- the caller may see it but may not do this to it;
* :class:`Conflict` -- it exists already, or its state does not allow this;
* :class:`InvalidInput` -- a value the caller gave is wrong.
"""

from __future__ import annotations

from tcup.errors import InputError


class DomainError(InputError):
    """A service refused a request; ``message`` says why, ``hint`` what to do."""


class NotFound(DomainError):
    """No such thing, or the caller may not see it."""


class Forbidden(DomainError):
    """The caller may see the thing but not do this to it."""


class Conflict(DomainError):
    """The thing exists already, or its current state does not allow the change."""


class InvalidInput(DomainError):
    """A value given by the caller is not acceptable."""
