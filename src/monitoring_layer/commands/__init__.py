"""The subcommands of ``monitoring-layer`` (the parser and dispatch live in ``monitoring_layer.cli``).

One module per family: ``check``, ``traces``, ``logs``, ``metrics``, ``runners``
(selftest and bench) and ``completion``; ``_home`` reads the documented files
read-only and ``_output`` holds what every command shares (exit codes, colours,
``--since`` durations, a closed pipe). Every module exposes ``add_parser(commands)``
and ``run(args, out) -> exit status``.
"""
