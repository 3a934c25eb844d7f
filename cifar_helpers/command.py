"""What every subcommand shares, in a module that imports nothing of the package: its exit codes,
its handling of helper errors, and SIGTERM treated as Ctrl-C.

Exit codes: 0 on success, 1 when the helpers report bad input or a failed run (the one-paragraph
message goes to stderr), 2 for a command line argparse cannot read, 130 when interrupted (a
training run keeps its last complete epoch).
"""

import signal
import sys

HELPER_ERROR, INTERRUPTED = 1, 130


def interrupt_on_sigterm() -> None:
    """SIGTERM (a scheduler, `kill`) ends a run like Ctrl-C, so the last complete epoch is kept."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


def run_command(function, *args, **kwargs) -> int:
    """Call a subcommand's function: a helper error is printed as its paragraph, Ctrl-C ends it."""
    from .errors import CifarHelpersError

    try:
        result = function(*args, **kwargs)
    except CifarHelpersError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return HELPER_ERROR
    except KeyboardInterrupt:
        return INTERRUPTED
    return result if isinstance(result, int) else 0
