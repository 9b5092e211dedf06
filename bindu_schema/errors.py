"""The tool's own exceptions: each becomes a message and an exit status, never a traceback."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_REFUSED = 3


class BinduSchemaError(Exception):
    """An error the user can act on. The message must already be free of passwords."""

    exit_code = EXIT_ERROR


class DatabaseError(BinduSchemaError):
    """A database could not be reached or refused a statement."""
