#!/bin/sh
# Entrypoint of the tcup-server image:
#   IMAGE                      -> tcup-server db upgrade, then tcup-server serve
#   IMAGE serve [OPTION ...]   -> the same, with serve's options
#   IMAGE -OPTION ...          -> tcup-server -OPTION ... (--version, --help)
#   IMAGE PROGRAM ...          -> PROGRAM ... when it is a program in the image (sh, python, tcup)
#   IMAGE COMMAND ...          -> tcup-server COMMAND ... otherwise (db check, create-user,
#                                 create-token, guidelines sync ...)
# Settings are TCUP_SERVER_* variables (the image sets DATA_DIR=/data, HOST=0.0.0.0,
# PORT=8000).  `db upgrade` creates or migrates the schema and makes the server keys
# on first start; its report goes to stderr, so stdout carries only serve's JSON log.
set -e

case "${1:-serve}" in
    serve)
        [ $# -gt 0 ] && shift
        case " $* " in
            *" -h "* | *" --help "*) exec tcup-server serve "$@" ;;
        esac
        tcup-server db upgrade >&2
        exec tcup-server serve "$@"
        ;;
    -*)
        exec tcup-server "$@"
        ;;
esac
if command -v "$1" >/dev/null 2>&1; then
    exec "$@"
fi
exec tcup-server "$@"
