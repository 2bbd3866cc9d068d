"""The Celery worker and beat: background work, running the same domain services as the API."""
