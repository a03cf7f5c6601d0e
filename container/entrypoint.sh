#!/bin/sh
# Entrypoint of the tcup image.  Conventions (also in container-help.txt):
#   IMAGE                    -> tcup run --help, then the container conventions
#   IMAGE --help | -h        -> the same
#   IMAGE -OPTION ...        -> tcup run -OPTION ...
#   IMAGE PROGRAM ...        -> PROGRAM ... when it is a program in the image (tcup, tempest, sh)
#   IMAGE SUBCOMMAND ...     -> tcup SUBCOMMAND ... otherwise (list, report, upload ...)
set -e

# Run with --user UID:GID the image does not know, HOME is / and not writable,
# yet tempest keeps ~/.tempest: fall back to a private writable HOME.
if [ -z "${HOME:-}" ] || [ "$HOME" = / ] || [ ! -w "$HOME" ]; then
    HOME=/tmp/home
    export HOME
    mkdir -p "$HOME"
fi

case "${1:-}" in
    "" | -h | --help)
        status=0
        tcup run --help || status=$?
        echo
        cat /opt/tcup/container-help.txt
        exit "$status"
        ;;
    -*)
        exec tcup run "$@"
        ;;
esac
if command -v "$1" >/dev/null 2>&1; then
    exec "$@"
fi
exec tcup "$@"
