"""The rules of the product, each written once (README: Layout).

A domain function is a change, `fn(conn, ..., now) -> (result, events)`,
run by the committer (`commit(lambda c: fn(c, ...))`), or an operation that
takes the running relay and commits its changes itself. Views parse their
input, call one of them and answer; workers call the same ones. The store
only reads and writes rows; the refusals (domain/errors.py) are raised here.
"""
