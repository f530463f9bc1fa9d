"""Who is calling and what they may do: the credential backends (session cookie, bearer
token, trusted SSO header), the roles table (GraphQL, REST and Dagster's permissions),
and the policies that judge a GraphQL document or a webserver route."""
