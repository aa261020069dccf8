"""A Flask service traced by the real X-Ray SDK for Python (aws-xray-sdk middleware, patched
`requests`): the first hop of the interop test (sdk/tests/interop.rs).

Usage: python python_service.py DAEMON_UDP RUST_URL

Serves one request through Flask's test client; the handler calls the Rust service with
`requests`, which the SDK patches to add X-Amzn-Trace-Id. Prints the trace id as
`trace <id>` and the Rust service's answer.
"""

import sys

DAEMON_UDP, RUST_URL = sys.argv[1:3]

import requests  # noqa: E402
from aws_xray_sdk.core import patch, xray_recorder  # noqa: E402
from aws_xray_sdk.ext.flask.middleware import XRayMiddleware  # noqa: E402
from flask import Flask, jsonify  # noqa: E402

xray_recorder.configure(
    daemon_address=DAEMON_UDP,
    sampling=False,
    context_missing="LOG_ERROR",
    service="python-frontend",
)
patch(("requests",))

app = Flask(__name__)
XRayMiddleware(app, xray_recorder)


@app.route("/checkout")
def checkout():
    seg = xray_recorder.current_segment()
    r = requests.get(RUST_URL + "/orders/42", timeout=10)
    return jsonify(trace=seg.trace_id, status=r.status_code, rust=r.json())


resp = app.test_client().get("/checkout")
assert resp.status_code == 200, resp.data
out = resp.get_json()
assert out["status"] == 200, out
print("trace", out["trace"], flush=True)
print("rust", out["rust"], flush=True)
