"""The OpenAPI document is true: schemathesis generates requests from it
(valid and invalid) against the app and checks every answer against it.

Streams are left out (they do not end); a long poll's wait is capped at 0
so a generated request cannot hold the suite for a minute.
"""
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from relay import create_app
from relay.config import Settings

app = create_app(Settings(db=tempfile.mkdtemp(prefix="relay-st-") + "/relay.db"))
schema = (schemathesis.openapi.from_wsgi("/api/spec", app)
          .exclude(path="/api/events").exclude(path="/api/ws"))


@pytest.fixture(scope="module", autouse=True)
def stop_relay():
    yield
    app.extensions["relay"].stop()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_keeps_its_document(case):
    if case.query and "wait" in case.query:
        case.query["wait"] = 0
    case.call_and_validate()
