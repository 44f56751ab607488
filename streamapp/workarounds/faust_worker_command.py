"""`faust worker` for this app, the command operators run (`faust -A streamapp.app
worker`): with LOG_FORMAT=json it prints no text banner and no "starting➢" progress, so
every line of the worker's output is JSON (the worker logs its start as a JSON line, see
`UsersApp.announce_start`). `users-service worker` passes `--quiet` to the same end.

Defining this subclass registers it as Faust's `worker` subcommand in place of the
builtin one (Faust registers every command class as it is defined); it has to be
imported before the command line is dispatched, which importing the app does. Its
options are Faust's, with the service's defaults in their help (Faust's says WARN and
0.0.0.0; the service's are LOG_LEVEL and WEB_BIND).

Upstream: no issue (Faust documents extending its commands by subclassing). Written for
faust-streaming 0.15.3; relies on `AppCommand.__init_subclass__` registering the class as
the `worker` command and on `worker.options` (tests/unit/test_workaround_canaries.py holds
them, and tests/unit/test_cli_worker.py the help it prints)."""

from __future__ import annotations

from typing import Any

from faust.cli import params
from faust.cli.base import LOGLEVELS, compat_option, option
from faust.cli.worker import worker as FaustWorkerCommand
from faust.types._env import CONSOLE_PORT

# Faust's worker options, their help naming this service's settings and defaults.
WORKER_OPTIONS = [
    option(
        "--with-web/--without-web",
        default=True,
        help="Enable/disable web server and related components.",
    ),
    option(
        "--web-port",
        "-p",
        default=None,
        type=params.TCPPort(),
        help="Port to run web server on (default: WEB_PORT, 6066 unless set)",
    ),
    option(
        "--web-transport",
        default=None,
        type=params.URLParam(),
        help="Web server transport (default: tcp:)",
    ),
    option(
        "--web-bind",
        "-b",
        type=str,
        help="Address the web server listens on (default: WEB_BIND, 127.0.0.1 unless set)",
    ),
    option(
        "--web-host",
        "-h",
        default=None,
        type=str,
        help="Canonical host name for the web server (default: this host's name)",
    ),
    compat_option(
        "--logfile",
        "-f",
        state_key="logfile",
        default=None,
        type=params.WritableFilePath,
        help="Path to logfile (default is <stderr>).",
    ),
    compat_option(
        "--loglevel",
        "-l",
        state_key="loglevel",
        # No default here: LOG_LEVEL is (UsersWorker._setup_logging); a level given here
        # can make the worker more verbose than that, never quieter.
        default=None,
        type=params.CaseInsensitiveChoice(LOGLEVELS),
        help="Logging level to use (default: LOG_LEVEL, INFO unless set)",
    ),
    compat_option(
        "--blocking-timeout",
        state_key="blocking_timeout",
        default=None,
        type=float,
        help="when --debug: Blocking detector timeout.",
    ),
    compat_option(
        "--console-port",
        state_key="console_port",
        default=CONSOLE_PORT,
        type=params.TCPPort(),
        help="when --debug: Port to run debugger console on.",
    ),
]


class worker(FaustWorkerCommand):
    """Start the worker; with LOG_FORMAT=json, only JSON lines on the console."""

    options = WORKER_OPTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = getattr(self.app, "settings", None)
        if getattr(getattr(settings, "operations", None), "log_format", None) == "json":
            self.quiet = True
