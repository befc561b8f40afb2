"""Errors the command line turns into one-line messages and exit codes."""


class SnnkdError(Exception):
    """Base class: a problem the user can act on, printed as one line."""

    exit_code = 1


class ConfigError(SnnkdError, ValueError):
    """Bad input (an unknown name, an out-of-range number); exit code 2."""

    exit_code = 2


class TrainingDiverged(SnnkdError):
    """The loss became NaN or infinite."""

    exit_code = 1


class CheckpointError(SnnkdError):
    """A checkpoint file is missing, corrupted or not one of ours."""

    exit_code = 2
