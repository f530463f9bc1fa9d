"""Identities and their secrets: principals and credentials, password hashing, session
cookies, API token format, login limits, the identity cache, the session signing key."""
