"""Start GRAM Studio: migrate the store, load the demo data, prepare the model, serve the web app.

    python launch.py [--host 127.0.0.1] [--port 7860] [--model embedded] [--backend transformers]
                     [--auth user:password]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from core.demo import seed_demo  # noqa: E402
from core.embedded import embedded_checkpoint  # noqa: E402
from core.settings import EMBEDDED_MODEL, get_settings  # noqa: E402
from storage.database import Database  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Start GRAM Studio.")
    parser.add_argument("--host", default="127.0.0.1", help="Interface to bind (default: loopback only).")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--model", help="'embedded', a Hugging Face id, or a local folder (GRAM_MODEL).")
    parser.add_argument("--backend", choices=["transformers", "vllm", "openai"], help="Inference backend (GRAM_BACKEND).")
    parser.add_argument("--auth", metavar="USER:PASSWORD", help="Require this login.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    from app.studio import StudioContext, build_studio

    args = parse_args(argv)
    overrides = {k: getattr(args, k) for k in ("model", "backend") if getattr(args, k)}
    settings = get_settings().model_copy(update=overrides)
    db = Database(settings.database_url)
    with db.session() as session:
        report = seed_demo(session, settings)
    if report:
        print(f"loaded the demo data: {report.summary()}")
    model_path = (
        str(embedded_checkpoint(settings.models_dir))
        if settings.model == EMBEDDED_MODEL
        else settings.model
    )
    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep:
            raise SystemExit("--auth takes USER:PASSWORD")
        auth = (user, password)
    studio = build_studio(StudioContext(settings=settings, db=db, model_path=model_path))
    studio.launch(server_name=args.host, server_port=args.port, auth=auth)


if __name__ == "__main__":
    main()
