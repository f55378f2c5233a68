"""DSN handling: passwords never reach argv, messages or the manifest."""

from __future__ import annotations

from fleet.backup.postgres.dump import redacted, tool_env


def test_password_moves_from_dsn_to_pgpassword() -> None:
    """A DSN password is handed to client programs in PGPASSWORD, not on the command line."""
    dsn, env = tool_env("postgresql://hydro:s3cret-pw@127.0.0.1:5433/hydro")
    assert "s3cret-pw" not in dsn
    assert env is not None
    assert "s3cret-pw" == env["PGPASSWORD"]
    assert "host=127.0.0.1" in dsn


def test_dsn_without_password_inherits_environment() -> None:
    """Without a password the DSN is used as is and the environment is inherited."""
    assert ("host=db user=postgres", None) == tool_env("host=db user=postgres")


def test_redacted_dsn_names_the_server_without_the_password() -> None:
    """What messages and the manifest show: user, host, port, database, never the password."""
    shown = redacted("postgresql://hydro:s3cret-pw@10.0.0.5:5433/hydro")
    assert "postgresql://hydro@10.0.0.5:5433/hydro" == shown
