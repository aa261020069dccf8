// The X-Ray SDK for Node.js (aws-xray-sdk-core) sending through fluoro-daemon to a collector.
//
// Usage: NODE_PATH=<collector/tests/clients/node/node_modules> node node_sdk_daemon.js DAEMON_UDP COLLECTOR
//
// The SDK emits a segment (with an annotation and a custom subsegment) over UDP to the daemon;
// the daemon must deliver it to the collector, where BatchGetTraces returns it intact.

'use strict';

const assert = require('assert');
const http = require('http');

const [DAEMON_UDP, COLLECTOR] = process.argv.slice(2);
process.env.AWS_XRAY_DAEMON_ADDRESS = DAEMON_UDP;
process.env.AWS_XRAY_CONTEXT_MISSING = 'IGNORE_ERROR';
const AWSXRay = require('aws-xray-sdk-core');
AWSXRay.enableManualMode();

function post(path, body) {
  const url = new URL(COLLECTOR);
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': data.length },
      },
      (res) => {
        let out = '';
        res.on('data', (c) => (out += c));
        res.on('end', () => resolve(JSON.parse(out)));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function main() {
  const segment = new AWSXRay.Segment('node-daemon-svc');
  segment.addAnnotation('via', 'fluoro-daemon');
  const sub = segment.addNewSubsegment('work');
  sub.close();
  segment.close();

  const deadline = Date.now() + 15000;
  let traces = [];
  while (Date.now() < deadline) {
    traces = (await post('/Traces', { TraceIds: [segment.trace_id] })).Traces;
    if (traces.length) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.strictEqual(traces.length, 1, `trace ${segment.trace_id} never reached the collector`);
  const doc = JSON.parse(traces[0].Segments[0].Document);
  assert.strictEqual(doc.name, 'node-daemon-svc');
  assert.deepStrictEqual(doc.annotations, { via: 'fluoro-daemon' });
  assert.strictEqual(doc.subsegments[0].name, 'work');
  console.log('ok the segment went SDK -> daemon (UDP) -> collector intact');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
