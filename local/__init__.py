"""The laptop runtime: a gateway emulator that serves the Lambda handlers without Docker.

It is not a second API. Routes, the functions behind them and the authorizer's settings come
from `template.yaml`; every request becomes the payload-2.0 event API Gateway would send, the
authorizer and the handlers are the same Lambda code, and their answers go back over HTTP the
way the gateway maps them. `python -m local` serves it; `make local` also prepares the sample
lake and the sample clients.
"""
