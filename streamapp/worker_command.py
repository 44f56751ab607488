"""`faust worker` for this app, the command operators run (`faust -A streamapp.app
worker`): with LOG_FORMAT=json it prints no text banner and no "starting➢" progress, so
every line of the worker's output is JSON (the worker logs its start as a JSON line, see
`UsersApp.announce_start`). `users-service worker` passes `--quiet` to the same end.

Defining this subclass registers it as Faust's `worker` subcommand in place of the
builtin one (Faust registers every command class as it is defined); it has to be
imported before the command line is dispatched, which importing the app does."""

from __future__ import annotations

from typing import Any

from faust.cli.worker import worker as FaustWorkerCommand


class worker(FaustWorkerCommand):
    """Start the worker; with LOG_FORMAT=json, only JSON lines on the console."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = getattr(self.app, "settings", None)
        if getattr(getattr(settings, "operations", None), "log_format", None) == "json":
            self.quiet = True
