"""One module per ``tcup`` subcommand.

Each module defines::

    NAME: str                      # the subcommand, e.g. "list"
    HELP: str                      # one line for ``tcup --help``
    def add_arguments(parser): ... # argparse options only
    def run(args, stdout) -> int:  # thin: unpack args, call the plain function

and a plain function (``list_tests(...)``, ``report(...)`` ...) that does the
work, takes its output stream as a parameter and returns an exit code, so the
pipeline is callable as a library and tests call it directly.
"""
