"""Every ORM model, importable from one place (Alembic's env.py imports this package).

Models live together, not in their domains, so relationships across domains (an order's
customer is a user) need no import cycles.
"""

from app.models.base import Base, Entity, Timestamped

__all__ = ["Base", "Entity", "Timestamped"]
