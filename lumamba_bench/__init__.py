"""lumamba-bench: datasets, encoders and a leaderboard harness for EEG foundation models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lumamba-bench")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
