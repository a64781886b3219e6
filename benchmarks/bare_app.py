"""The baseline for predict throughput: a bare FastAPI route answering a constant JSON body,
served by uvicorn with the same settings as `neuronal serve` (factory, workers, logging).

Run: `python benchmarks/bare_app.py PORT [WORKERS]` (the service benchmark starts it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

ANSWER = {"model_id": "bare", "predictions": [0], "probabilities": [[1.0]], "classes": [0]}


def create_app() -> FastAPI:
    """One POST route that reads the body and returns a constant answer."""
    app = FastAPI(title="bare")

    @app.post("/bare")
    async def bare(request: Request) -> dict[str, Any]:
        await request.body()
        return ANSWER

    return app


def main() -> None:
    import uvicorn

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from service.core.config import get_settings
    from service.core.logs import configure_logging, logging_config

    port = int(sys.argv[1])
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    settings = get_settings()
    configure_logging(settings)
    # the same arguments `neuronal serve` gives uvicorn.run
    uvicorn.run(
        "benchmarks.bare_app:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        timeout_graceful_shutdown=10,
        log_level=settings.log_level.lower(),
        log_config=logging_config(settings),
    )


if __name__ == "__main__":
    main()
