// The official openai npm package, unchanged, pointed at oa-bypass, which forwards to the
// project's mock OpenAI. What a user of the SDK sees must be what OpenAI would give.
// Run by CTest with OA_BYPASS_BINARY and OA_MOCK_BINARY set to the built binaries.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import OpenAI, { RateLimitError, toFile } from 'openai';

const KEY = 'sk-node-sdk-test-key-0123456789SECRET';
let mock, gateway, mockUrl, gatewayLog = '';
const children = [];

// Starts a binary and resolves with the first match of `pattern` in its output stream.
function startProcess(binary, args, stream, pattern, onData = () => {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${binary} did not start: ${seen}`)), 10000);
    child[stream].on('data', (data) => {
      onData(data.toString());
      seen += data.toString();
      const m = seen.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m });
      }
    });
    child.on('exit', (code) => reject(new Error(`${binary} exited with ${code}: ${seen}`)));
  });
}

before(async () => {
  const m = await startProcess(process.env.OA_MOCK_BINARY, ['--port', '0'], 'stdout',
                               /listening on ([\d.]+):(\d+)/);
  mock = m.child;
  mockUrl = `http://${m.match[1]}:${m.match[2]}`;
  const g = await startProcess(process.env.OA_BYPASS_BINARY,
                               ['--listen', '127.0.0.1:0', '--upstream', `${mockUrl}/v1`,
                                '--log-level', 'debug'],
                               'stderr', /listening on 127\.0\.0\.1:(\d+)/,
                               (text) => { gatewayLog += text; });
  gateway = g.child;
  gateway.port = g.match[1];
});

after(() => {
  for (const child of children) child.kill('SIGTERM');
  // The key went through every call above and must appear in no log line.
  assert.equal(gatewayLog.includes(KEY), false, 'the API key leaked into the gateway log');
  // Kept for the suite's key scan (scripts/check-no-keys.py), when CTest asks.
  const kept = process.env.OA_TEST_OUTPUT_DIR;
  if (kept) writeFileSync(`${kept}/node-gateways-${process.pid}.txt`, gatewayLog);
});

function client(options = {}) {
  return new OpenAI({ apiKey: KEY, baseURL: `http://127.0.0.1:${gateway.port}/v1`, ...options });
}

async function mockRequests() {
  const res = await fetch(`${mockUrl}/__mock/requests`);
  return res.json();
}

test('chat completion', async () => {
  const { data, response } = await client().chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], temperature: 0 })
    .withResponse();
  assert.equal(data.object, 'chat.completion');
  assert.equal(data.model, 'gpt-4o-mini');
  assert.equal(data.choices[0].message.content, 'Hello from mock');
  assert.match(response.headers.get('x-request-id'), /^req_mock_\d+$/);
  const seen = (await mockRequests()).find((r) => r.target === '/v1/chat/completions');
  const header = (name) => seen.headers.find(([n]) => n.toLowerCase() === name)?.[1];
  assert.equal(header('authorization'), `Bearer ${KEY}`);
  assert.match(header('x-stainless-lang'), /js/);
});

test('chat completion, streamed', async () => {
  const stream = await client().chat.completions.create(
    { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true },
    { headers: { 'x-mock-sse-events': '4', 'x-mock-sse-interval-ms': '50' } });
  const tokens = [];
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.choices[0]?.delta?.content) tokens.push(chunk.choices[0].delta.content);
  }
  assert.ok(tokens.length >= 3, `got ${tokens}`);
  assert.equal(tokens[0], 'tok0');
});

test('embeddings (the SDK asks for base64 and decodes it)', async () => {
  const res = await client().embeddings.create({ model: 'text-embedding-3-small',
                                                 input: ['a', 'b'] });
  assert.equal(res.object, 'list');
  assert.equal(res.data.length, 2);
  assert.equal(res.data[0].embedding.length, 8);
  assert.ok(res.data[0].embedding.every((x) => typeof x === 'number' && Number.isFinite(x)));
});

test('models list and retrieve', async () => {
  const ids = [];
  for await (const model of client().models.list()) ids.push(model.id);
  assert.ok(ids.includes('gpt-4o-mini'), `got ${ids}`);
  const model = await client().models.retrieve('ft:gpt-4o:acme::abc123');
  assert.equal(model.id, 'ft:gpt-4o:acme::abc123');
});

test('file upload and content download', async () => {
  const bytes = Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 7) % 256));
  const file = await client().files.create({
    file: await toFile(bytes, 'train.jsonl'), purpose: 'fine-tune' });
  assert.match(file.id, /^file-/);
  assert.equal(file.filename, 'train.jsonl');
  assert.equal(file.purpose, 'fine-tune');
  const upload = (await mockRequests()).find((r) => r.target === '/v1/files');
  assert.ok(upload.body_bytes > bytes.length, 'the multipart body reached the upstream whole');

  const content = await client().files.content(file.id,
                                               { headers: { 'x-mock-bytes': '300000' } });
  assert.equal(content.headers.get('content-type'), 'application/octet-stream');
  const got = Buffer.from(await content.arrayBuffer());
  assert.equal(got.length, 300000);
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== (i * 31 + 7) % 251) assert.fail(`byte ${i} differs`);
  }
});

test('an upstream 429 is the SDK\'s RateLimitError, headers included', async () => {
  await assert.rejects(
    client({ maxRetries: 0 }).chat.completions.create(
      { model: 'gpt-4o-mini', messages: [] }, { headers: { 'x-mock-status': '429' } }),
    (err) => {
      assert.ok(err instanceof RateLimitError, `got ${err?.constructor?.name}`);
      assert.equal(err.status, 429);
      assert.equal(err.headers.get('retry-after'), '1');
      assert.equal(err.headers.get('x-ratelimit-remaining-requests'), '0');
      assert.equal(err.code, 'rate_limit_exceeded');
      return true;
    });
});

test('a missing key is the gateway\'s own 401 in OpenAI\'s shape', async () => {
  const res = await fetch(`http://127.0.0.1:${gateway.port}/v1/models`);
  assert.equal(res.status, 401);
  const body = await res.json();
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
});

// CTest makes the test CA (make_test_certs.sh) and trusts it with NODE_EXTRA_CA_CERTS, as a
// user of a gateway with a private CA would; the SDK itself is unchanged.
test('chat completion, streamed, over https (--tls-cert and --tls-key)', async () => {
  const certs = process.env.OA_TEST_CERT_DIR;
  assert.ok(certs, 'OA_TEST_CERT_DIR names the folder of make_test_certs.sh');
  const tls = await startProcess(process.env.OA_BYPASS_BINARY,
                                 ['--listen', '127.0.0.1:0', '--upstream', `${mockUrl}/v1`,
                                  '--tls-cert', `${certs}/good.pem`,
                                  '--tls-key', `${certs}/good.key`, '--log-level', 'debug'],
                                 'stderr', /listening on 127\.0\.0\.1:(\d+) \(REST and gRPC over TLS/,
                                 (text) => { gatewayLog += text; });
  const sdk = new OpenAI({ apiKey: KEY, baseURL: `https://127.0.0.1:${tls.match[1]}/v1` });
  const stream = await sdk.chat.completions.create(
    { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true },
    { headers: { 'x-mock-sse-events': '3' } });
  const tokens = [];
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta?.content) tokens.push(chunk.choices[0].delta.content);
  }
  assert.deepEqual(tokens, ['tok0', 'tok1']);
});
