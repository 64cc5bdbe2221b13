"""A rich progress bar as a ``(done, total)`` callback, for long loops of the library."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def progress_bar(what: str, enabled: bool = True):
    """Yield a callable ``(done, total)`` that drives a rich progress bar; the bar always closes."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=False) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
