"""Authentication and authorization: passwords, tokens, API keys, roles, policies."""
