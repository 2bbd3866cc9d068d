"""Users: accounts, profiles and administration."""
