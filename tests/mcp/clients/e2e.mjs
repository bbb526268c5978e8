// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * End-to-end tests of `vivarium mcp` (vivarium-mcp(1)) through the official
 * MCP clients from npm, pinned in package-lock.json next to this file:
 *
 *   sdk1  @modelcontextprotocol/sdk 1.x: Client + StdioClientTransport, the
 *         handshake era (initialize; it negotiates 2025-11-25 with us, and it
 *         validates structuredContent against each tool's outputSchema).
 *   pin   @modelcontextprotocol/client 2.x pinned to 2026-07-28, the
 *         stateless era (server/discover probe, then a _meta envelope on
 *         every request).
 *   auto  @modelcontextprotocol/client 2.x in auto negotiation: probes with
 *         server/discover and must settle on the stateless era with us.
 *
 * Usage (tests/mcp/clients.sh runs it; run it by hand the same way):
 *
 *   node e2e.mjs --client sdk1|pin|auto [--server-log FILE] -- COMMAND [ARGS...]
 *
 * e.g. `node e2e.mjs --client pin -- /usr/bin/vivarium mcp --workers 2`.
 * It must live next to the node_modules that `npm ci` installed (ES module
 * imports resolve from the importing file's directory).
 *
 * Output: TAP on stdout, one line per scenario ("ok N - CLIENT: ..."), with
 * "# " diagnostics under it (what failed; some measurements) and the plan
 * last; exit status 0 when everything passed (a TODO, a known server bug,
 * may fail). The server's stderr goes to --server-log (or is kept in
 * memory and its tail shown when something failed), never to our stdout:
 * a stray line there would break TAP.
 */

import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import process from 'node:process';
import { StringDecoder } from 'node:string_decoder';
import { format } from 'node:util';

// ------------------------------------------------------------------ options

function usage(msg) {
    process.stderr.write(`e2e.mjs: ${msg}\n` +
        'usage: node e2e.mjs --client sdk1|pin|auto [--server-log FILE] -- COMMAND [ARGS...]\n');
    process.exit(2);
}

const argv = process.argv.slice(2);
let kind = null, serverLog = null;
while (argv.length && argv[0] !== '--') {
    const opt = argv.shift();
    if (opt === '--client') kind = argv.shift();
    else if (opt === '--server-log') serverLog = argv.shift();
    else usage(`unknown option ${opt}`);
}
argv.shift(); // the "--"
if (!['sdk1', 'pin', 'auto'].includes(kind)) usage('--client must be sdk1, pin or auto');
if (argv.length === 0) usage('no server command after --');
const [command, ...commandArgs] = argv;

// The protocol revision each configuration must end up with.
const HANDSHAKE_VERSION = '2025-11-25';
const STATELESS_VERSION = '2026-07-28';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// Client libraries may print with console.log/debug/info, which go to stdout
// in Node; send them to stderr so that stdout stays pure TAP.
for (const level of ['log', 'info', 'debug']) {
    console[level] = (...args) => process.stderr.write(format(...args) + '\n');
}

// ------------------------------------------------------------------ TAP

let tapCount = 0;
let tapFailed = 0;
const out = (line) => process.stdout.write(line + '\n');

// One TAP line and its diagnostics; "#" would start a TAP directive inside
// a description. A "TODO reason" directive marks a known bug: its failure
// does not count (and its success shows up as an unexpected pass).
function tap(pass, desc, diagnostics = [], directive = '') {
    tapCount++;
    if (!pass && !directive.startsWith('TODO')) tapFailed++;
    out(`${pass ? 'ok' : 'not ok'} ${tapCount} - ${kind}: ${desc.replaceAll('#', 'no.')}` +
        (directive ? ` # ${directive}` : ''));
    for (const d of diagnostics) {
        for (const line of String(d).split('\n')) out(`# ${line}`);
    }
}

// What a scenario found wrong: each expectation that failed adds a problem;
// the scenario passes when there is none. Notes (measurements) are shown
// under its TAP line either way.
class Expect {
    constructor() {
        this.problems = [];
        this.notes = [];
    }
    that(cond, what, got) {
        if (!cond) this.problems.push(got === undefined ? what : `${what} (got ${show(got)})`);
        return !!cond;
    }
    equal(actual, expected, what) {
        return this.that(Object.is(actual, expected), `${what} should be ${show(expected)}`, actual);
    }
    note(...lines) {
        this.notes.push(...lines);
    }
}

// A value for a diagnostic: errors with their class and code, the rest as
// (shortened) JSON.
function show(v) {
    if (v instanceof Error) return `${v.constructor.name}${v.code !== undefined ? ` ${v.code}` : ''}: ${v.message}`;
    let s;
    try {
        s = JSON.stringify(v) ?? String(v);
    } catch {
        s = String(v);
    }
    return s.length > 600 ? s.slice(0, 600) + '...' : s;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Reject when a promise takes longer than ms (it keeps running, unobserved).
function deadline(promise, ms, what) {
    let timer;
    const expired = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
    });
    return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

// Run one scenario and print its TAP line. body(e) fills the Expect; an
// exception or the time limit is a failure too.
async function scenario(desc, body, limitMs = 30000, directive = '') {
    const e = new Expect();
    try {
        await deadline(body(e), limitMs, 'the scenario');
    } catch (err) {
        e.problems.push(`threw ${show(err)}`);
    }
    tap(e.problems.length === 0, desc, [...e.problems, ...e.notes], directive);
    return e.problems.length === 0;
}

// ------------------------------------------------------------------ the server's stderr

let stderrTail = '';
function serverStderr(chunk) {
    if (serverLog) appendFileSync(serverLog, chunk);
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
}
if (serverLog) writeFileSync(serverLog, '');

// A last resort: whatever happens, finish (the shell wrapper's budget is ~2
// minutes for all configurations).
setTimeout(() => {
    tap(false, 'the whole run finishes within 100 s', ['giving up; the server is probably stuck']);
    finish(1);
}, 100000).unref();

function finish(status) {
    if (tapFailed > 0 && !serverLog && stderrTail) {
        out('# the tail of the server\'s stderr:');
        for (const line of stderrTail.split('\n')) out(`# ${line}`);
    }
    out(`1..${tapCount}`);
    process.exit(status ?? (tapFailed > 0 ? 1 : 0));
}

// ------------------------------------------------------------------ the client

// The server's environment: ours (the test install's VIVARIUM_LIBEXECDIR and
// VIVARIUM_PKGDATADIR; the transports pass only HOME, PATH and a few others
// by default) without VIVARIUM_SOCKET: we test the embedded pool.
const serverEnv = { ...process.env };
delete serverEnv.VIVARIUM_SOCKET;
const serverParams = { command, args: commandArgs, env: serverEnv, stderr: 'pipe' };

// The libraries, loaded on demand (a run uses one of them).
const lib = kind === 'sdk1'
    ? {
        ...await import('@modelcontextprotocol/sdk/client/index.js'),
        ...await import('@modelcontextprotocol/sdk/client/stdio.js'),
    }
    : {
        ...await import('@modelcontextprotocol/client'),
        ...await import('@modelcontextprotocol/client/stdio'),
    };

// A client of this run's configuration, its transport (not yet connected)
// and callTool(params, options): the two libraries differ there (1.x takes
// a result schema as its second argument).
function newClient() {
    const transport = new lib.StdioClientTransport(serverParams);
    if (kind === 'sdk1') {
        const client = new lib.Client({ name: 'vivarium-e2e', version: '1.0.0' }, { capabilities: {} });
        return { client, transport, callTool: (params, options) => client.callTool(params, undefined, options) };
    }
    const mode = kind === 'pin' ? { pin: STATELESS_VERSION } : 'auto';
    // A short probe: a server that does not answer server/discover promptly
    // would make auto mode fall back to initialize, which we report below.
    const client = new lib.Client({ name: 'vivarium-e2e', version: '1.0.0' },
        { versionNegotiation: { mode, probe: { timeoutMs: 15000 } } });
    return { client, transport, callTool: (params, options) => client.callTool(params, options) };
}

// The client of (nearly) all scenarios.
const { client, transport, callTool } = newClient();
// With stderr 'pipe' the transport hands us the stream before start; it must
// be drained or a chatty server would block on a full pipe.
transport.stderr?.on('data', serverStderr);

// A tap on the wire, both ways. The Protocol class of both libraries chains
// an onmessage set before connect(); send is wrapped. (In pin and auto modes
// the server/discover probe runs on a separate, disposable process that this
// transport never sees.)
const wire = []; // {dir: 'in'|'out', at: ms, msg}
transport.onmessage = (msg) => wire.push({ dir: 'in', at: Date.now(), msg });
const send = transport.send.bind(transport);
transport.send = (msg, ...rest) => {
    wire.push({ dir: 'out', at: Date.now(), msg });
    return send(msg, ...rest);
};

// The server's raw stdout, line by line, as a check of its hygiene that does
// not depend on the library (2.x silently skips lines that are not JSON).
// The transport spawns the server in start(); the ChildProcess is a private
// field, but the same one in both libraries. We also need it for the exit
// status. Chunks are read only after start() resolves, so none is missed.
let child = null;
let stdoutRest = '';
const badStdoutLines = [];
const stdoutDecoder = new StringDecoder('utf8'); // a character may straddle chunks
function rawStdout(chunk) {
    const lines = (stdoutRest + stdoutDecoder.write(chunk)).split('\n');
    stdoutRest = lines.pop();
    for (const line of lines) {
        let msg;
        try {
            msg = JSON.parse(line);
        } catch {
            msg = undefined;
        }
        // (An array, a batch, would be wrong too: these clients never send one.)
        if (msg?.jsonrpc !== '2.0') badStdoutLines.push(line.slice(0, 300));
    }
}
const start = transport.start.bind(transport);
transport.start = async () => {
    await start();
    child = transport._process ?? null;
    child?.stdout?.on('data', rawStdout);
};

// Everything the client library itself found wrong on the stream (unparsable
// lines, responses to unknown ids, progress for unknown tokens).
const clientErrors = [];
client.onerror = (err) => clientErrors.push(err?.message ?? String(err));

const call = (name, args, options = {}) =>
    callTool({ name, arguments: args }, { timeout: 30000, ...options });
const run = (code, extra = {}, options = {}) => call('execute_python', { code, ...extra }, options);
const textOf = (result) =>
    (result?.content ?? []).filter((b) => b.type === 'text').map((b) => b.text).join('\n');

// Settle a call either way: {result} or {err}. A JSON-RPC error arrives as
// McpError (1.x) or ProtocolError (2.x) with the numeric code in err.code;
// the 2.x SdkError (timeouts, aborts) has a string code.
async function settle(promise) {
    try {
        const result = await promise;
        return { result };
    } catch (err) {
        return { err };
    }
}

// ------------------------------------------------------------------ connect

const modern = kind !== 'sdk1';
const connected = await scenario(
    modern ? `connects in the stateless era (${STATELESS_VERSION})`
        : `connects with initialize, negotiating ${HANDSHAKE_VERSION}`,
    async (e) => {
        await client.connect(transport, { timeout: 30000 });
        if (modern) {
            e.equal(client.getProtocolEra(), 'modern', 'getProtocolEra()');
            e.equal(client.getNegotiatedProtocolVersion(), STATELESS_VERSION, 'getNegotiatedProtocolVersion()');
            e.that(client.getDiscoverResult()?.supportedVersions?.includes(STATELESS_VERSION),
                'server/discover lists 2026-07-28 in supportedVersions', client.getDiscoverResult());
        } else {
            const init = wire.find((w) => w.dir === 'in' && w.msg.result?.protocolVersion);
            e.equal(init?.msg.result.protocolVersion, HANDSHAKE_VERSION, 'the protocolVersion of initialize');
            e.that(client.getServerCapabilities()?.logging, 'the logging capability is declared',
                client.getServerCapabilities());
        }
        e.equal(client.getServerVersion()?.name, 'vivarium', 'serverInfo.name');
        e.that(client.getServerCapabilities()?.tools, 'the tools capability is declared',
            client.getServerCapabilities());
    }, 45000);
if (!connected) {
    tap(false, 'no further tests without a connection');
    await client.close().catch(() => {});
    finish(1);
}

// ------------------------------------------------------------------ tools/list

await scenario('tools/list: execute_python then health_check, fully described', async (e) => {
    const { tools } = await client.listTools(undefined, { timeout: 10000 });
    // More tools (sessions, workspaces, environments) will slot in; these two
    // must be there, in this order.
    const names = tools.map((t) => t.name);
    e.that(names.includes('execute_python') && names.indexOf('execute_python') < names.indexOf('health_check'),
        'execute_python and health_check are listed, in that order', names);
    for (const t of tools.filter((t) => ['execute_python', 'health_check'].includes(t.name))) {
        e.that(typeof t.title === 'string' && t.title.length > 0, `${t.name}: a title`, t.title);
        e.that(typeof t.description === 'string' && t.description.length > 0, `${t.name}: a description`);
        e.equal(t.inputSchema?.type, 'object', `${t.name}: inputSchema.type`);
        e.equal(t.inputSchema?.additionalProperties, false, `${t.name}: inputSchema.additionalProperties`);
        e.equal(t.outputSchema?.type, 'object', `${t.name}: outputSchema.type`);
        e.equal(t.annotations?.openWorldHint, false, `${t.name}: annotations.openWorldHint`);
    }
    const ex = tools.find((t) => t.name === 'execute_python');
    const hc = tools.find((t) => t.name === 'health_check');
    e.equal(ex?.annotations?.readOnlyHint, false, 'execute_python: annotations.readOnlyHint');
    e.that(ex?.inputSchema?.required?.includes('code'), 'execute_python: code is required', ex?.inputSchema);
    for (const arg of ['code', 'timeout_s', 'stdin']) {
        e.that(ex?.inputSchema?.properties?.[arg], `execute_python: argument ${arg} described`);
    }
    e.equal(hc?.annotations?.readOnlyHint, true, 'health_check: annotations.readOnlyHint');
});

// ------------------------------------------------------------------ execute_python

await scenario('execute_python 1+1: status ok, value 2', async (e) => {
    const r = await run('1+1');
    e.that(!r.isError, 'isError is falsy', r.isError);
    e.equal(r.structuredContent?.status, 'ok', 'structuredContent.status');
    e.equal(r.structuredContent?.value, '2', 'structuredContent.value');
    e.that(r.content?.some((b) => b.type === 'text' && b.text.includes('2')), 'a text block contains 2',
        r.content);
});

await scenario("execute_python print('hi'): stdout is hi and a newline", async (e) => {
    const r = await run("print('hi')");
    e.that(!r.isError, 'isError is falsy', r.isError);
    e.equal(r.structuredContent?.stdout, 'hi\n', 'structuredContent.stdout');
    e.equal(r.structuredContent?.value, null, 'structuredContent.value');
    e.that(textOf(r).includes('hi'), 'the text mentions hi', r.content);
});

await scenario('execute_python 1/0: an isError result with the ZeroDivisionError', async (e) => {
    const r = await run('1/0');
    e.equal(r.isError, true, 'isError');
    e.equal(r.structuredContent?.status, 'exception', 'structuredContent.status');
    e.equal(r.structuredContent?.exception?.type, 'ZeroDivisionError', 'structuredContent.exception.type');
    e.that(textOf(r).includes('ZeroDivisionError'), 'the text names ZeroDivisionError', textOf(r));
});

await scenario('execute_python sleep(10) with timeout_s 1: a timeout result after about 1 s', async (e) => {
    const t0 = Date.now();
    const r = await run('import time; time.sleep(10)', { timeout_s: 1 });
    const ms = Date.now() - t0;
    e.equal(r.isError, true, 'isError');
    e.equal(r.structuredContent?.status, 'timeout', 'structuredContent.status');
    e.that(/timed out/i.test(textOf(r)), 'the text says it timed out', textOf(r));
    e.that(textOf(r).includes('timeout_s'), 'the text mentions timeout_s', textOf(r));
    e.that(ms < 8000, 'answered well before the 10 s sleep ends', `${ms} ms`);
    e.note(`answered after ${ms} ms`);
});

await scenario("execute_python input() with stdin 'abc\\n': value 'abc'", async (e) => {
    const r = await run('input()', { stdin: 'abc\n' });
    e.that(!r.isError, 'isError is falsy', r.isError);
    e.equal(r.structuredContent?.value, "'abc'", 'structuredContent.value');
});

await scenario('execute_python with a matplotlib figure: one PNG image block', async (e) => {
    const r = await run("import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; " +
        'plt.plot([1,2,3])', { timeout_s: 60 }, { timeout: 70000 });
    e.that(!r.isError, 'isError is falsy', r.isError && textOf(r));
    const images = (r.content ?? []).filter((b) => b.type === 'image');
    e.equal(images.length, 1, 'the number of image blocks');
    if (images.length > 0) {
        e.equal(images[0].mimeType, 'image/png', 'the image block\'s mimeType');
        const bytes = Buffer.from(images[0].data ?? '', 'base64');
        e.that(bytes.subarray(0, 8).equals(PNG_SIGNATURE), 'the data decodes to a PNG',
            bytes.subarray(0, 8).toString('hex'));
    }
    e.equal(r.structuredContent?.images, 1, 'structuredContent.images');
}, 80000);

await scenario('execute_python sleep(3) with progress: 2+ increasing notifications, then ok', async (e) => {
    const progress = [];
    const r = await run('import time; time.sleep(3)', {}, { onprogress: (p) => progress.push(p) });
    e.that(!r.isError, 'isError is falsy', r.isError);
    e.equal(r.structuredContent?.status, 'ok', 'structuredContent.status');
    e.that(progress.length >= 2, 'at least 2 progress notifications', progress);
    e.that(progress.every((p, i) => i === 0 || p.progress > progress[i - 1].progress),
        'progress strictly increases', progress.map((p) => p.progress));
    e.that(progress.every((p) => p.total === undefined || p.progress <= p.total),
        'progress never exceeds total', progress);
    e.note(`progress: ${JSON.stringify(progress)}`);
});

// A slow execute_python must not hold up anything else: four slow calls at
// once, then (once they are surely in flight) health_check and, in the
// handshake era, ping; both must come back before any slow call does.
await scenario('4 concurrent slow calls do not delay health_check' + (modern ? '' : ' or ping'), async (e) => {
    const SLOW = 'import time; time.sleep(2); 7';
    const t0 = Date.now();
    const slow = [1, 2, 3, 4].map(() => run(SLOW).then((r) => ({ r, at: Date.now() })));
    await sleep(400);
    const quick = [call('health_check', {}).then((r) => ({ what: 'health_check', r, at: Date.now() }))];
    if (!modern) quick.push(client.ping({ timeout: 10000 }).then((r) => ({ what: 'ping', r, at: Date.now() })));
    const asked = Date.now();
    const quickDone = await Promise.all(quick);
    const slowDone = await Promise.all(slow);
    const firstSlow = Math.min(...slowDone.map((s) => s.at));
    for (const q of quickDone) {
        e.that(q.at < firstSlow, `${q.what} returns before the first slow call`,
            `${q.what} after ${q.at - asked} ms, first slow call after ${firstSlow - asked} ms`);
        e.that(q.at - asked < 1000, `${q.what} answers within 1 s`, `${q.at - asked} ms`);
    }
    e.that(!quickDone[0].r.isError, 'health_check is not an error', quickDone[0].r);
    e.that(slowDone.every((s) => s.r.structuredContent?.value === '7'), 'each slow call returns 7',
        slowDone.map((s) => s.r.structuredContent));
    const total = Math.max(...slowDone.map((s) => s.at)) - t0;
    e.that(total < 6000, 'the slow calls ran side by side (serially they take 8 s)', `${total} ms`);
    e.note(quickDone.map((q) => `${q.what} answered in ${q.at - asked} ms;`).join(' ') +
        ` the first slow call ${firstSlow - asked} ms after it was asked; all slow calls took ${total} ms`);
}, 40000);

// busy_workers according to health_check.
async function busyWorkers() {
    const r = await call('health_check', {}, { timeout: 5000 });
    return r.structuredContent?.busy_workers;
}

// Cancellation: the client aborts, sends notifications/cancelled, the call
// rejects; the server kills the worker, frees its slot (busy_workers back to
// 0; the worker's exit is asynchronous, so poll) and never answers the call.
await scenario('aborting sleep(60) rejects the call and frees the worker', async (e) => {
    const ac = new AbortController();
    const before = wire.length;
    const pending = settle(run('import time; time.sleep(60)', {}, { signal: ac.signal, timeout: 70000 }));
    await sleep(1000);
    const req = wire.slice(before).find((w) => w.dir === 'out' && w.msg.method === 'tools/call');
    const cancelledId = req?.msg.id ?? null;
    e.that(cancelledId !== null, 'the tools/call request went out');
    // It runs: a worker is busy (give a cold pool a moment).
    let busy;
    for (let i = 0; i < 10 && !((busy = await busyWorkers()) >= 1); i++) await sleep(300);
    e.that(busy >= 1, 'health_check shows a busy worker while it runs', busy);

    const abortedAt = Date.now();
    ac.abort('the e2e test cancels');
    const { result, err } = await deadline(pending, 5000, 'the aborted call');
    e.that(err !== undefined, 'the aborted call rejects', result);
    e.that(Date.now() - abortedAt < 2000, 'promptly', `${Date.now() - abortedAt} ms`);
    const note = wire.slice(before).find((w) => w.dir === 'out' && w.msg.method === 'notifications/cancelled');
    e.equal(note?.msg.params?.requestId, cancelledId, 'the requestId of notifications/cancelled');

    const polls = [];
    for (const t0 = Date.now(); Date.now() - t0 < 5000;) {
        busy = await busyWorkers();
        polls.push(busy);
        if (busy === 0) break;
        await sleep(250);
    }
    e.equal(busy, 0, 'busy_workers within 5 s of the abort');
    e.note(`busy_workers after the abort: ${polls.join(' ')} (${Date.now() - abortedAt} ms)`);
}, 30000);

// ------------------------------------------------------------------ invalid calls

// A protocol error, not an isError result: the client rejects with -32602.
async function expectInvalidParams(e, promise, messagePattern) {
    const { result, err } = await settle(promise);
    if (!e.that(err !== undefined, 'the call is rejected with a protocol error', result)) return;
    e.equal(err.code, -32602, 'the error code');
    if (messagePattern) e.that(messagePattern.test(err.message), `the message matches ${messagePattern}`, err.message);
}

await scenario('execute_python without code: error -32602', async (e) => {
    await expectInvalidParams(e, call('execute_python', {}), /code/);
});

await scenario('an unknown tool: error -32602', async (e) => {
    await expectInvalidParams(e, call('no_such_tool', {}), /no_such_tool/);
});

await scenario("execute_python with session 'x': error -32602 about sessions", async (e) => {
    await expectInvalidParams(e, run('1', { session: 'x' }), /session/i);
});

// ------------------------------------------------------------------ handshake era only

// Logging: until logging/setLevel the threshold is warning, so the
// cancellation above (an info event) was not logged; at debug, a cancelled
// run is reported as notifications/message from the logger "vivarium".
if (!modern) {
    await scenario("logging/setLevel 'debug' succeeds, then a cancellation is logged", async (e) => {
        const messages = () => wire.filter((w) => w.dir === 'in' && w.msg.method === 'notifications/message');
        const quiet = messages().filter((w) => ['debug', 'info', 'notice'].includes(w.msg.params?.level));
        e.that(quiet.length === 0, 'no message below warning before setLevel', quiet.map((w) => w.msg));

        const r = await client.setLoggingLevel('debug', { timeout: 10000 });
        e.that(r && typeof r === 'object', 'an (empty) result', r);

        const before = messages().length;
        const ac = new AbortController();
        const pending = settle(run('import time; time.sleep(30)', {}, { signal: ac.signal }));
        await sleep(500);
        ac.abort('the e2e test cancels again');
        await pending;
        let logged = [];
        for (let i = 0; i < 20 && logged.length === 0; i++) {
            await sleep(100);
            logged = messages().slice(before).map((w) => w.msg.params);
        }
        e.that(logged.some((p) => p?.logger === 'vivarium' && /cancel/i.test(JSON.stringify(p.data))),
            'a notifications/message from logger vivarium mentions the cancellation', logged);
    });
}

// ------------------------------------------------------------------ the stream as a whole

await scenario('the stream: JSON-RPC only, no client errors, no answer to the cancelled call, ' +
    'no progress after a result',
    async (e) => {
        // A cancelled call's late answer would come right after the kill.
        await sleep(1000);
        e.that(clientErrors.length === 0, 'the client library reported no errors', clientErrors);
        e.that(badStdoutLines.length === 0, 'every line on the server\'s stdout is a JSON-RPC message',
            badStdoutLines.slice(0, 5));
        // Every request we cancelled stays unanswered.
        const cancelled = new Set(wire.filter((w) => w.dir === 'out' && w.msg.method === 'notifications/cancelled')
            .map((w) => w.msg.params?.requestId));
        const answers = wire.filter((w) => w.dir === 'in' && !w.msg.method && cancelled.has(w.msg.id));
        e.that(answers.length === 0, 'no response to a cancelled request', answers.map((w) => w.msg));
        e.that(cancelled.size >= 1, 'a request was cancelled on this stream');
        // Progress notifications for a token whose request was already answered.
        const answered = new Map();
        const late = [];
        for (const w of wire) {
            if (w.dir === 'in' && w.msg.id !== undefined && !w.msg.method) answered.set(w.msg.id, true);
            if (w.dir === 'in' && w.msg.method === 'notifications/progress' &&
                answered.has(w.msg.params?.progressToken)) late.push(w.msg);
        }
        e.that(late.length === 0, 'no notifications/progress after the response', late);
        if (modern) {
            // We never asked for log messages (no io.modelcontextprotocol/logLevel).
            const logs = wire.filter((w) => w.dir === 'in' && w.msg.method === 'notifications/message');
            e.that(logs.length === 0, 'no notifications/message in the stateless era', logs.map((w) => w.msg));
        }
    });

// ------------------------------------------------------------------ a large result

// The official clients' stdio transports give up on a message over 10 MiB
// (their default maxBufferSize): they report an error and close the
// connection. Everything a call may produce within the server's own caps must
// therefore fit. Here: 1 MiB of newlines on stdout and on stderr, each
// exactly the output cap. On a connection of its own, as it may break it.
// The MCP face keeps a head and a tail of each stream (64 KiB) and marks the
// middle it left out, so the result stays well below the limit.
const BIG_OUTPUT = "import sys; sys.stdout.write('\\n' * (1 << 20)); sys.stderr.write('\\n' * (1 << 20))";
await scenario('a result with 1 MiB of stdout and of stderr fits the client\'s 10 MiB message limit', async (e) => {
    const big = newClient();
    big.transport.stderr?.on('data', serverStderr);
    const errors = [];
    big.client.onerror = (err) => errors.push(err?.message ?? String(err));
    try {
        await big.client.connect(big.transport, { timeout: 30000 });
        // A server of its own: the first call waits for its zygote to preload
        // the data stack, which takes many seconds on a loaded machine.
        const call = (name, args) => settle(big.callTool({ name, arguments: args }, { timeout: 60000 }));
        const { result, err } = await call('execute_python', { code: BIG_OUTPUT });
        e.that(err === undefined, 'the call returns a result', err);
        const out = result?.structuredContent?.stdout ?? '';
        e.that(result?.structuredContent?.stdout_truncated === true, 'stdout_truncated is true');
        e.that(out.length >= 60000 && out.length < 70000 && /bytes left out/.test(out),
            'stdout keeps a head and a tail (about 64 KiB) and marks the middle', out.length);
        const health = await call('health_check', {});
        e.that(health.err === undefined, 'the connection still serves health_check', health.err);
        e.that(errors.length === 0, 'the client reported no errors', errors.map((m) => m.slice(0, 200)));
    } finally {
        await big.client.close().catch(() => {});
    }
}, 120000);

// ------------------------------------------------------------------ close

// The server's descendants (zygote, workers): "pid:starttime" from /proc.
function descendants(root) {
    const table = [];
    for (const name of readdirSync('/proc')) {
        if (!/^\d+$/.test(name)) continue;
        try {
            const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
            const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
            table.push({ pid: Number(name), ppid: Number(fields[1]), start: fields[19] });
        } catch {
            // gone meanwhile
        }
    }
    const found = [];
    const known = new Set([root]);
    for (let grew = true; grew;) {
        grew = false;
        for (const p of table) {
            if (known.has(p.ppid) && !known.has(p.pid)) {
                known.add(p.pid);
                found.push(p);
                grew = true;
            }
        }
    }
    return found;
}

function alive(p) {
    try {
        const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return fields[0] !== 'Z' && fields[19] === p.start;
    } catch {
        return false;
    }
}

await scenario('closing stdin: the server exits 0 within 2 s, leaving no process behind', async (e) => {
    if (!e.that(child, 'the server process is known')) return;
    const procs = descendants(child.pid);
    const t0 = Date.now();
    // The transport ends stdin, waits up to 2 s, and only then sends SIGTERM.
    await client.close();
    const ms = Date.now() - t0;
    e.that(child.exitCode !== null || child.signalCode !== null, 'the server has exited',
        { exitCode: child.exitCode, signal: child.signalCode });
    e.equal(child.exitCode, 0, 'the exit status');
    e.that(ms < 2000, 'it exited on EOF, before the transport resorted to SIGTERM', `${ms} ms`);
    e.equal(stdoutRest, '', 'what followed the last newline on stdout');
    e.note(`exited ${ms} ms after stdin was closed`);
    let left = procs;
    for (let i = 0; i < 30 && (left = procs.filter(alive)).length > 0; i++) await sleep(100);
    e.that(left.length === 0, 'no zygote or worker outlives it', left.map((p) => {
        try {
            return `${p.pid} ${readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim()}`;
        } catch {
            return `${p.pid}`;
        }
    }));
}, 15000);

finish();
