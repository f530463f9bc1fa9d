"""The gateway: login, roles, API tokens and audit in front of the Dagster UI and GraphQL
API (``app``: the ASGI app; ``auth``: who may do what; ``identity``: credentials;
``store``: the database; ``serve``: ``aerofs serve``). It knows no assets."""
