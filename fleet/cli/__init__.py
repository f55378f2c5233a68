"""The `fleet` command line (typer): one module per command group, the only place that prints.

Owns argument parsing, output (rich tables, `--json`), progress bars and exit codes. It may
import any library package of `fleet`; nothing outside `fleet.cli` imports it.
"""
