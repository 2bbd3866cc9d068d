"""Shared plumbing every domain uses: config, database, errors, logging, middleware, ..."""
