"""The ASGI entry point: `survey.app:app_from_env`, the factory a process manager calls.

`survey serve` runs it under uvicorn; gunicorn or uvicorn's own CLI can serve it the same way.
"""

from __future__ import annotations

import logging.config

from litestar import Litestar

from survey.config import from_env, with_secret
from survey.logs import logging_config
from survey.web.app import create_app


def app_from_env() -> Litestar:
    """The factory the ASGI server calls in each worker; `survey serve` sets the environment."""
    settings = with_secret(from_env())
    # The same log lines however the factory is served (`survey serve`, uvicorn, gunicorn).
    logging.config.dictConfig(logging_config(settings))
    return create_app(settings)
