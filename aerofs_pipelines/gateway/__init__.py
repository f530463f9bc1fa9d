"""The gateway: login, roles, API tokens and audit in front of the Dagster UI and GraphQL API."""
