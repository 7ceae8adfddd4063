"""Start GRAM Studio: migrate the store, load the demo data, prepare the model, serve the web app.

python launch.py [--host 127.0.0.1] [--port 7860] [--model embedded] [--backend transformers]
                 [--auth user:password ...] [--admin user:password ...]
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from core.data.demo import DEMO_DATASET, seed_demo  # noqa: E402
from core.errors import SYSTEM_ERRORS, ConfigError, GramError, printable, system_error  # noqa: E402
from core.model.embedded import embedded_checkpoint  # noqa: E402
from core.settings import EMBEDDED_MODEL, get_settings, usable_home  # noqa: E402
from core.store import open_store  # noqa: E402
from core.vocab import BackendName  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Start GRAM Studio.")
    parser.add_argument("--host", default="127.0.0.1", help="Interface to bind (default: loopback only).")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--model", help="'embedded', a Hugging Face id, or a local folder (GRAM_MODEL).")
    parser.add_argument("--backend", choices=list(BackendName), help="Inference backend (GRAM_BACKEND).")
    parser.add_argument(
        "--auth",
        metavar="USER:PASSWORD",
        action="append",
        help="Require a login; repeat for several people (each review records its reviewer).",
    )
    parser.add_argument(
        "--admin",
        metavar="USER:PASSWORD",
        action="append",
        help="A login that may also import from server paths, train, activate or roll back models and "
        "edit guidelines. Once one is named, --auth logins are reviewers only.",
    )
    return parser.parse_args(argv)


def _port_is_free(host: str, port: int) -> None:
    """Refuse a port out of range, or one another program holds, before anything slow happens (model
    conversion). SO_REUSEADDR, as the server itself binds: a restart right after a crash finds the
    port in TIME_WAIT, which is free to bind, not taken."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a port (1 to 65535)")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigError(
                f"--port {port} on {host} cannot be used ({error.strerror or error}); choose another port"
            ) from None


def _auth(items: list[str] | None) -> list[tuple[str, str]]:
    auth = []
    for item in items or []:
        user, sep, password = item.partition(":")
        if not sep or not user:
            raise ConfigError("--auth takes USER:PASSWORD")
        auth.append((user, password))
    return auth


def serve(args: argparse.Namespace) -> None:
    from app.logs import configure_logging
    from app.studio import HEAD, StudioContext, build_studio
    from core.access.roles import Team
    from core.backends import backend_settings
    from core.head.default_judge import install_default_judge
    from core.judge.shipped import store_demo_verdicts
    from core.model.spec import check_sources
    from core.model.versions import record_current

    overrides = {k: getattr(args, k) for k in ("model", "backend") if getattr(args, k)}
    settings = get_settings().model_copy(update=overrides)
    admins = _auth(args.admin)
    auth = _auth(args.auth) + admins
    _port_is_free(args.host, args.port)
    backend_settings(settings)  # a wrong backend or a missing endpoint is said before any model loads
    check_sources(settings.model)  # so is a model folder that is not there
    log_file = configure_logging(usable_home(settings))
    logging.getLogger("app").info("GRAM Studio starting; the log is also in %s", log_file)
    db = open_store(settings)
    if settings.import_roots is None:  # the default import folder exists from the first start on
        settings.allowed_import_roots[0].mkdir(parents=True, exist_ok=True)
    with db.session() as session:
        report = seed_demo(session, settings)
    if report:
        print(f"loaded the demo data: {report.summary()}")
    if settings.model == EMBEDDED_MODEL:
        embedded_checkpoint(settings.models_dir)  # convert once, before the first page needs it
    ctx = StudioContext(settings=settings, db=db, team=Team(frozenset(user for user, _ in admins)))
    if installed := install_default_judge(db, settings):  # only a judge that holds off its sources
        print(f"active model: {installed} (the shipped judge; `gram models rollback` for the untrained one)")
    with db.session() as session:
        record_current(session, settings)  # so the Adapt page has a parent version to show
    # Only for the embedded model itself: a folder of the same name may hold another model.
    if report and settings.model == EMBEDDED_MODEL and (stored := store_demo_verdicts(db, ctx.spec(), DEMO_DATASET)):
        print(f"the demo opens judged: {stored} of its pairs carry the embedded model's shipped fast-path verdicts")
    studio = build_studio(ctx)
    # Exports are written to the data folder's exports/, which Gradio serves only when allowed
    # (by default it serves the system temp folder and the working folder alone).
    studio.launch(
        server_name=args.host,
        server_port=args.port,
        auth=auth or None,
        head=HEAD,
        allowed_paths=[str(settings.exports_dir)],
    )


def main(argv: list[str] | None = None) -> None:
    """The studio's error edge: a problem the user can fix is one line on stderr and exit status 1."""
    try:
        serve(parse_args(argv))
    except GramError as error:
        print(f"launch.py: {printable(str(error))}", file=sys.stderr)
        raise SystemExit(1) from None
    except SYSTEM_ERRORS as error:  # a full disk, a store that stopped answering
        logging.getLogger("app").exception("the studio could not start")
        print(f"launch.py: {printable(system_error(error))}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
