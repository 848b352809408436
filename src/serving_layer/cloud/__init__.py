"""The operator's side of the cloud stack: create its tables, seed its lake, empty its buckets.

These modules run on an operator's machine with the operator's AWS credentials (`make deploy`,
`make seed-cloud`, `make destroy`). No Lambda imports them, and the Lambda package leaves this
folder out (see lambda/Makefile). Each reads what it needs from the deployed stack's outputs.
"""
