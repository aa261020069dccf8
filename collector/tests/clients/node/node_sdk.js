// Real traffic from the X-Ray SDK for Node.js (aws-xray-sdk-core), assembled by the collector.
//
// Usage: node node_sdk.js ENDPOINT
//
// A UDP socket stands in for the daemon. The SDK, with a streaming threshold of 0, sends the
// HTTP-call subsegment on its own (it closes while its parent `render` subsegment is still open),
// then the segment with `render` embedded, so the collector must nest a streamed subsegment under
// an embedded one that arrived later. The datagrams go to the collector with PutTraceSegments
// over plain HTTP, and BatchGetTraces must return the assembled trace.

'use strict';

const assert = require('assert');
const dgram = require('dgram');
const http = require('http');

const ENDPOINT = new URL(process.argv[2]);

function post(path, body) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        host: ENDPOINT.hostname,
        port: ENDPOINT.port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': data.length },
      },
      (res) => {
        let out = '';
        res.on('data', (c) => (out += c));
        res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(out) }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function main() {
  const udp = dgram.createSocket('udp4');
  const datagrams = [];
  udp.on('message', (m) => datagrams.push(m));
  await new Promise((r) => udp.bind(0, '127.0.0.1', r));
  process.env.AWS_XRAY_DAEMON_ADDRESS = `127.0.0.1:${udp.address().port}`;
  process.env.AWS_XRAY_CONTEXT_MISSING = 'IGNORE_ERROR';

  const AWSXRay = require('aws-xray-sdk-core');
  AWSXRay.setStreamingThreshold(0);
  const tracedHttp = AWSXRay.captureHTTPs(require('http'));
  AWSXRay.enableManualMode();

  const segment = new AWSXRay.Segment('node-frontend');
  segment.addAnnotation('run', 'fluoro');
  const render = segment.addNewSubsegment('render');
  await new Promise((resolve, reject) => {
    const req = tracedHttp.get(
      { host: ENDPOINT.hostname, port: ENDPOINT.port, path: '/health', XRaySegment: render },
      (res) => {
        res.resume();
        res.on('end', resolve);
      },
    );
    req.on('error', reject);
  });
  render.close();
  segment.close();

  // Let the emitter's sends land.
  for (let i = 0; i < 50 && datagrams.length < 2; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  udp.close();
  const docs = datagrams.map((d) => d.toString('utf8').split('\n').slice(1).join('\n'));
  const sent = docs.map((d) => JSON.parse(d));
  assert.ok(sent.length >= 2, `expected the segment and a streamed subsegment, got ${docs}`);
  const streamed = sent.find((s) => s.type === 'subsegment');
  assert.ok(streamed, 'a streamed subsegment');
  assert.strictEqual(streamed.parent_id, render.id, 'streamed under render');
  console.log(`ok the SDK sent ${sent.length} documents, one streamed`);

  const put = await post('/TraceSegments', { TraceSegmentDocuments: docs });
  assert.strictEqual(put.status, 200, JSON.stringify(put.body));
  assert.deepStrictEqual(put.body.UnprocessedTraceSegments, []);

  const got = await post('/Traces', { TraceIds: [segment.trace_id] });
  assert.strictEqual(got.status, 200, JSON.stringify(got.body));
  const trace = got.body.Traces[0];
  const docsBack = trace.Segments.map((s) => JSON.parse(s.Document));
  const root = docsBack.find((s) => s.name === 'node-frontend');
  assert.ok(root, 'the segment comes back');
  assert.deepStrictEqual(root.annotations, { run: 'fluoro' });
  const renderBack = root.subsegments.find((s) => s.name === 'render');
  assert.ok(renderBack, 'render is embedded');
  const call = (renderBack.subsegments || []).find((s) => s.id === streamed.id);
  assert.ok(call, 'the streamed HTTP call is nested under render');
  assert.strictEqual(call.namespace, 'remote');
  assert.strictEqual(call.http.response.status, 200);
  console.log('ok the trace is assembled: segment > render > streamed HTTP call');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
