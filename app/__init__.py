"""reference-backend: the API, its domains and their shared plumbing."""
