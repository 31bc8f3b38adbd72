"""`python -m api [--host H] [--port P] [--workers N]`: serve the app with uvicorn.

The one command line every launcher uses (Dockerfile, docker-compose.yml, scripts, benches,
tests), so how the app is served (uvicorn calling the `create_app` factory) is written once.
Settings come from the environment as always (api.config.ApiSettings)."""

from __future__ import annotations

import argparse

import uvicorn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    # Each option is named after the uvicorn.run keyword it sets.
    uvicorn.run("api.main:create_app", factory=True, **vars(args))


if __name__ == "__main__":
    main()
