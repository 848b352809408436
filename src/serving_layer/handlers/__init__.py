"""The Lambda entry points: the authorizer, the query API and the manage API.

Each handler module is a thin entry that hands the event to code in importable modules. The
authorizer passes the caller's policy to the others in its context, as
`requestContext.authorizer.lambda` = {"client": …, "key_id": …, "policy": <compact JSON>}.
"""
