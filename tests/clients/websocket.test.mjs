// OpenAI's WebSocket APIs through oa-bypass with the clients users have: the official
// openai package's Realtime client (over wss, which it insists on: the TLS front with the
// test CA) and its Responses WebSocket-mode client, a page in headless Chromium whose
// WebSocket sends the key as a subprotocol (as browsers must), and a Codex-style
// fallback on --websocket=off. Each is checked against what the mock received.
// Run by CTest with OA_BYPASS_BINARY, OA_MOCK_BINARY and OA_TEST_CERT_DIR set.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { ResponsesWS } from 'openai/resources/responses/ws';
import WebSocket from 'ws';

const KEY = 'sk-node-websocket-test-key-0123456789SECRET';
const certs = process.env.OA_TEST_CERT_DIR;
let mockUrl, gatewayPort, tlsPort, gatewayLog = '';
const children = [];

// Starts a binary and resolves with the first match of `pattern` in its output stream;
// what a gateway writes there goes to gatewayLog. `group`: in a process group of its own,
// for a binary that starts processes of its own (kill it with killGroup).
function startProcess(binary, args, stream, pattern, { gateway = false, group = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: group });
    children.push(child);
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${binary} did not start: ${seen}`)), 10000);
    child[stream].on('data', (data) => {
      if (gateway) gatewayLog += data.toString();
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

function startGateway(extra = []) {
  return startProcess(process.env.OA_BYPASS_BINARY,
                      ['--listen', '127.0.0.1:0', '--upstream', `${mockUrl}/v1`,
                       '--log-level', 'debug', ...extra],
                      'stderr', /listening on 127\.0\.0\.1:(\d+)/, { gateway: true });
}

before(async () => {
  assert.ok(certs, 'OA_TEST_CERT_DIR names the folder of make_test_certs.sh');
  const m = await startProcess(process.env.OA_MOCK_BINARY, ['--port', '0'], 'stdout',
                               /listening on ([\d.]+):(\d+)/);
  mockUrl = `http://${m.match[1]}:${m.match[2]}`;
  gatewayPort = (await startGateway()).match[1];
  tlsPort = (await startGateway(['--tls-cert', `${certs}/good.pem`,
                                 '--tls-key', `${certs}/good.key`])).match[1];
});

after(() => {
  for (const child of children) child.kill('SIGTERM');
  // The key crossed every session above, in headers and in subprotocols: in no log line.
  assert.equal(gatewayLog.includes(KEY), false, 'the API key leaked into the gateway log');
  const kept = process.env.OA_TEST_OUTPUT_DIR;
  if (kept) writeFileSync(`${kept}/node-websocket-gateways-${process.pid}.txt`, gatewayLog);
});

// The mock's record of its sessions, once the last one has ended.
async function sessions(count) {
  for (let i = 0; i < 100; ++i) {
    const all = await (await fetch(`${mockUrl}/__mock/websockets`)).json();
    if (all.length >= count && all[count - 1].ended) return all;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the mock did not record ${count} ended sessions`);
}

// The gateway's log, once it has `count` lines matching `pattern` (a session's access
// line is written as it ends, just after its client saw the end).
async function logMatching(pattern, count = 1) {
  const lines = () => gatewayLog.split('\n').filter((l) => pattern.test(l)).length;
  for (let i = 0; i < 100 && lines() < count; ++i) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(lines() >= count, `fewer than ${count} log lines match ${pattern}`);
  return gatewayLog;
}

const header = (session, name) =>
  session.headers.find(([n]) => n.toLowerCase() === name)?.[1];

// Resolves with the first event of `type` that `emitter` emits.
const next = (emitter, type) => new Promise((resolve) => emitter.once(type, resolve));

test('the openai Realtime client over wss', async () => {
  const client = new OpenAI({ apiKey: KEY, baseURL: `https://127.0.0.1:${tlsPort}/v1` });
  const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime-mini' }, client);
  rt.on('error', (e) => assert.fail(`Realtime error: ${e.message}`));
  const created = await next(rt, 'session.created');
  assert.equal(created.session.model, 'gpt-realtime-mini');
  rt.send({ type: 'input_audio_buffer.append', audio: Buffer.alloc(4800, 1).toString('base64') });
  rt.send({ type: 'response.create' });
  const done = await next(rt, 'response.done');
  assert.equal(done.response.usage.output_tokens, 20);
  rt.close({ code: 1000, reason: 'done' });
  await next(rt.socket, 'close');

  const [session] = (await sessions(1)).slice(-1);
  assert.equal(session.target, '/v1/realtime?model=gpt-realtime-mini');
  assert.equal(header(session, 'authorization'), `Bearer ${KEY}`);
  assert.equal(header(session, 'openai-beta'), undefined);  // the gateway adds nothing
  assert.equal(session.audio_bytes, 4800);
  assert.equal(session.close_code, 1000);
  const realtimeLine =
    /path=\/v1\/realtime rpc=openai\.v1\.RealtimeService\/Connect status=101 .*closed_by=client close_code=1000/;
  assert.match(await logMatching(realtimeLine), realtimeLine);
});

test('the openai Responses WebSocket-mode client', async () => {
  const client = new OpenAI({ apiKey: KEY, baseURL: `http://127.0.0.1:${gatewayPort}/v1` });
  const rs = new ResponsesWS(client);
  rs.on('error', (e) => assert.fail(`Responses WebSocket error: ${e.message}`));
  const deltas = [];
  rs.on('response.output_text.delta', (e) => deltas.push(e.delta));
  const completed = next(rs, 'response.completed');
  rs.send({ type: 'response.create', model: 'gpt-5-mini', input: 'Say hello.' });
  const event = await completed;
  assert.equal(deltas.join(''), 'Hello!');
  assert.equal(event.response.usage.total_tokens, 8);
  rs.close({ code: 1000, reason: 'done' });
  await next(rs.socket, 'close');

  const all = await sessions(2);
  const session = all[all.length - 1];
  assert.equal(session.target, '/v1/responses');
  const sent = JSON.parse(session.messages[0].prefix);
  assert.equal(sent.type, 'response.create');
  assert.equal(sent.input, 'Say hello.');
  const responsesLine = /path=\/v1\/responses rpc=openai\.v1\.ResponsesService\/Connect status=101/;
  assert.match(await logMatching(responsesLine), responsesLine);
});

// Evaluates `expression` in a page of headless Chromium (Debian's chromium-headless-shell),
// driven over the DevTools protocol, and resolves with the value its promise resolved to.
async function inChromium(expression) {
  const chromium = process.env.OA_CHROMIUM ?? 'chromium-headless-shell';
  assert.ok(!chromium.endsWith('NOTFOUND'),
            'chromium-headless-shell is not installed: scripts/setup.sh installs it');
  const dir = mkdtempSync(join(tmpdir(), 'oa-chromium-'));
  const { child, match } = await startProcess(
      chromium,
      ['--no-sandbox', `--user-data-dir=${dir}`, '--remote-debugging-port=0', 'about:blank'],
      'stderr', /DevTools listening on (ws:\S+)/, { group: true });
  const cdp = new WebSocket(match[1]);
  try {
    await new Promise((resolve, reject) => { cdp.once('open', resolve); cdp.once('error', reject); });
    const answers = new Map();
    cdp.on('message', (data) => {
      const m = JSON.parse(data.toString());
      answers.get(m.id)?.(m);
    });
    let id = 0;
    const send = (method, params, sessionId) => new Promise((resolve) => {
      answers.set(++id, resolve);
      cdp.send(JSON.stringify({ id, method, params, sessionId }));
    });
    const page = await send('Target.createTarget', { url: 'about:blank' });
    const attached = await send('Target.attachToTarget',
                                { targetId: page.result.targetId, flatten: true });
    const evaluated = await send('Runtime.evaluate',
                                 { expression, awaitPromise: true, returnByValue: true },
                                 attached.result.sessionId);
    assert.equal(evaluated.result.exceptionDetails, undefined,
                 JSON.stringify(evaluated.result.exceptionDetails));
    return evaluated.result.result.value;
  } finally {
    cdp.close();
    process.kill(-child.pid, 'SIGKILL');  // the browser and its renderer, GPU, ... processes
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a page in headless Chromium sends the key as a subprotocol', async () => {
  // What a browser app does: it cannot set Authorization on a WebSocket.
  const seen = await inChromium(`new Promise((resolve, reject) => {
    const ws = new WebSocket('ws://127.0.0.1:${gatewayPort}/v1/realtime?model=gpt-realtime',
                             ['realtime', 'openai-insecure-api-key.${KEY}']);
    ws.onmessage = (e) => {
      ws.onclose = (c) => resolve({ first: JSON.parse(e.data).type, protocol: ws.protocol,
                                    code: c.code });
      ws.close(1000);
    };
    ws.onerror = () => reject(new Error('the WebSocket failed'));
    setTimeout(() => reject(new Error('no message within 10 s')), 10000);
  })`);
  assert.deepEqual(seen, { first: 'session.created', protocol: 'realtime', code: 1000 });

  const all = await sessions(3);
  const session = all[all.length - 1];
  assert.equal(header(session, 'authorization'), undefined);
  assert.equal(header(session, 'sec-websocket-protocol'),
               `realtime, openai-insecure-api-key.${KEY}`);
  assert.equal(session.subprotocol, 'realtime');
  assert.equal(session.close_code, 1000);
  // The first test's session, over TLS, and this one.
  await logMatching(/path=\/v1\/realtime rpc=openai\.v1\.RealtimeService\/Connect status=101 .*closed_by=client close_code=1000/, 2);
});

test('--websocket=off answers 426, so that a client falls back to HTTP at once', async () => {
  const off = (await startGateway(['--websocket', 'off'])).match[1];
  const ws = new WebSocket(`ws://127.0.0.1:${off}/v1/responses`, {
    headers: { Authorization: `Bearer ${KEY}`, 'OpenAI-Beta': 'responses_websockets=2026-02-06' },
  });
  const response = await new Promise((resolve, reject) => {
    ws.once('unexpected-response', (req, res) => resolve(res));
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
  });
  assert.equal(response.statusCode, 426);
  let body = '';
  for await (const chunk of response) body += chunk;
  assert.equal(JSON.parse(body).error.code, 'websockets_disabled');
});
