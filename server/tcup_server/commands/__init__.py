"""One module per ``tcup-server`` subcommand (see ``tcup_server.cli``)."""
