"""Start GRAM Studio: migrate the store, load the demo data, prepare the model, serve the web app.

python launch.py [--host 127.0.0.1] [--port 7860] [--model embedded] [--backend transformers]
                 [--auth user:password]
"""

from __future__ import annotations

import argparse
import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from core.data.demo import seed_demo  # noqa: E402
from core.model.embedded import embedded_checkpoint  # noqa: E402
from core.settings import EMBEDDED_MODEL, get_settings  # noqa: E402
from core.vocab import BackendName  # noqa: E402
from storage.database import Database  # noqa: E402


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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    from app.logs import configure_logging
    from app.studio import HEAD, StudioContext, build_studio
    from core.model.versions import record_current

    args = parse_args(argv)
    overrides = {k: getattr(args, k) for k in ("model", "backend") if getattr(args, k)}
    settings = get_settings().model_copy(update=overrides)
    log_file = configure_logging(settings.home)
    logging.getLogger("app").info("GRAM Studio starting; the log is also in %s", log_file)
    db = Database(settings.database_url)
    with db.session() as session:
        report = seed_demo(session, settings)
    if report:
        print(f"loaded the demo data: {report.summary()}")
    if settings.model == EMBEDDED_MODEL:
        embedded_checkpoint(settings.models_dir)  # convert once, before the first page needs it
    auth = []
    for item in args.auth or []:
        user, sep, password = item.partition(":")
        if not sep or not user:
            raise SystemExit("--auth takes USER:PASSWORD")
        auth.append((user, password))
    ctx = StudioContext(settings=settings, db=db)
    with db.session() as session:
        record_current(session, settings)  # so the Adapt page has a parent version to show
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


if __name__ == "__main__":
    main()
