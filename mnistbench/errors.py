"""Domain exceptions. The library raises these; only the CLI turns them into messages and exit codes."""


class MnistbenchError(Exception):
    """Base class for every error a user can cause or fix."""


class DataError(MnistbenchError):
    """MNIST could not be found, read or verified."""


class DigestMismatch(DataError):
    """An array's SHA-256 differs from the canonical MNIST digest."""


class UnknownModel(MnistbenchError):
    """A model name that the registry does not know."""


class ConfigError(MnistbenchError):
    """An option value that cannot work (negative epochs, impossible k, ...)."""


class StoreError(MnistbenchError):
    """The leaderboard database cannot be opened, read or written."""


class RunNotFound(StoreError):
    """No run with the given id."""


class TrainingFailed(MnistbenchError):
    """Training raised an error; the run is recorded as `failed`."""


class SweepError(MnistbenchError):
    """A sweep that cannot start or continue (a name taken, a study missing)."""


class OutputError(MnistbenchError):
    """A file the user asked for (an export, a run's zip) cannot be written."""
