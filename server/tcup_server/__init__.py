"""tcup-server: a RefStack-compatible receiving server for interop results.

Layers (imports flow one way): ``api`` (HTTP, auth, validation) -> ``services``
(ingest, accounts, guidelines) -> ``storage`` (database models, artefact store).
Every format (guidelines, results, signatures, scoring) comes from ``tcup``.
"""

__version__ = "0.1.0"
