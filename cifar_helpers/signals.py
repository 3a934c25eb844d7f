"""SIGTERM (a scheduler, `kill`) ends a run like Ctrl-C, so the last complete epoch is kept."""

import signal


def interrupt_on_sigterm() -> None:
    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)
