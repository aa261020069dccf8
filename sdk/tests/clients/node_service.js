// A Node.js HTTP service traced by the real X-Ray SDK for Node.js (aws-xray-sdk-core): the
// third hop of the interop test (sdk/tests/interop.rs).
//
// Usage: NODE_PATH=<collector/tests/clients/node/node_modules> node node_service.js DAEMON_UDP
// Prints "listening <port>"; serves until stdin closes.

'use strict';

const http = require('http');

const [DAEMON_UDP] = process.argv.slice(2);
process.env.AWS_XRAY_DAEMON_ADDRESS = DAEMON_UDP;
process.env.AWS_XRAY_CONTEXT_MISSING = 'IGNORE_ERROR';
const AWSXRay = require('aws-xray-sdk-core');

AWSXRay.middleware.setDefaultName('node-stock');
AWSXRay.middleware.disableCentralizedSampling();

const server = http.createServer((req, res) => {
  const segment = AWSXRay.middleware.traceRequestResponseCycle(req, res);
  segment.addAnnotation('hop', 'node');
  const body = JSON.stringify({ item: req.url, in_stock: 3 });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});

server.listen(0, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
