"""`make run`: the whole service on one machine, with embedded PostgreSQL and Redis by default.

Not part of the deployed service (the production image runs `uvicorn`, `celery worker` and
`celery beat` directly); this is the newcomer's one command.
"""
