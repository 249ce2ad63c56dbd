"""Progress lines for people, on a logger of their own.

`nmt-pipeline run` keeps its console quiet (everything else goes to a log file) but shows
what is logged here; library code that runs inside components (the Trainer's callbacks)
reports through `report` and needs nothing of the console.
"""

import logging

LOGGER = logging.getLogger("nmt_tfx.progress")
LOGGER.setLevel(logging.INFO)


def report(message: str, **fields) -> None:
    """Logs one progress line; `fields` travel with the record (e.g. `epoch=3`)."""
    LOGGER.info(message, extra={"progress": fields})
