"""The OpenAPI document is true: schemathesis generates requests from it
(valid and invalid) against the app and checks every answer against it.

Streams are left out (they do not end); a long poll's wait is capped at 0
so a generated request cannot hold the suite for a minute. Valid input may
also be answered 422 (README: Using it with curl: valid, but the target cannot act), and the
orchestrator proxies answer 502 when the orchestrator cannot be reached
(there is none here to reach). An automation's action is the body of the
route it stands for, with {{placeholders}} in its strings; it is checked
against that route's own declaration (with the placeholders filled in when
a run happens), which no schema of the automation itself can state: for
those two operations, a schema-valid action may still be refused.
"""
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from relay.server import create_app
from relay.server.settings import Settings

app = create_app(Settings(db=tempfile.mkdtemp(prefix="relay-st-") + "/relay.db"))
CONFIG = SchemathesisConfig.from_dict({
    "checks": {"positive_data_acceptance": {
        "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]}},
    "operations": [{
        "include-path-regex": "^/api/orchestrators/[^/]+/(directories|providers|sessions|version|logs)",
        "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "502"]},
                   "positive_data_acceptance": {
                       "expected-statuses": ["2xx", "3xx", "401", "404", "422", "502"]}}},
        {"include-path-regex": "^/api/automations(/[^/]+)?$",
         "include-method-regex": "^(POST|PATCH)$",
         "checks": {"positive_data_acceptance": {"enabled": False}}}],
})
schema = (schemathesis.openapi.from_wsgi("/api/spec", app, config=CONFIG)
          .exclude(path="/api/events").exclude(path="/api/ws"))


@pytest.fixture(scope="module", autouse=True)
def stop_relay():
    yield
    app.extensions["relay"].stop()


@schema.parametrize()
# Derandomized: the same examples every run, so CI is reproducible.
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_keeps_its_document(case):
    if case.query and "wait" in case.query:
        case.query["wait"] = 0
    case.call_and_validate()
