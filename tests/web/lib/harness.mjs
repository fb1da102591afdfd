// Browser-test harness: a real careslot server on a free loopback port with a throw-away
// data directory, Debian's chromium driven by playwright-core, axe-core accessibility checks,
// screenshots at phone and desktop widths, and a measure of the JavaScript a page loads.
//
// Nothing here skips: a missing binary, browser or dependency is an error that says how to
// get it.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { once } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

/** The repository root (this file is tests/web/lib/harness.mjs). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Where server logs and screenshots go (under the repository's target/, like cargo's). */
export const LOG_DIR = path.join(ROOT, 'target', 'web-logs');
export const SHOT_DIR = path.join(ROOT, 'target', 'web-screenshots');

/** The two widths every page is designed for: a phone and a desktop. */
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 900 };

/** Accessibility rules checked: WCAG 2.0 and 2.1, levels A and AA. */
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

/**
 * The careslot binary: $CARESLOT_BIN, else the debug build in $CARGO_TARGET_DIR (default
 * <repo>/target). scripts/test builds it before running these tests.
 */
export function binaryPath() {
  const bin = process.env.CARESLOT_BIN
    ? path.resolve(process.env.CARESLOT_BIN)
    : path.join(path.resolve(ROOT, process.env.CARGO_TARGET_DIR || 'target'), 'debug', 'careslot');
  if (!fs.existsSync(bin)) {
    throw new Error(
      `careslot binary not found at ${bin}. Build it with \`cargo build -p careslot\` ` +
        '(scripts/test does), or set CARESLOT_BIN to an existing binary.',
    );
  }
  return bin;
}

/** A free TCP port on 127.0.0.1: listen on port 0, read the port the kernel chose, close. */
async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

/** Servers still running, killed if the test process exits without stopping them. */
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** The last `lines` lines of a file, for error messages. */
function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Start `careslot serve` on a free port with a fresh temporary data and keys directory
 * (embedded SQLite and key service), and wait until GET /healthz answers 200.
 *
 * DATABASE_URL and CARESLOT_* variables of the environment are not passed on (scripts/test
 * sets DATABASE_URL for the Rust tests, which would switch the server to PostgreSQL), nor
 * RUST_BACKTRACE/RUST_LIB_BACKTRACE (a startup error's backtrace would push its cause out of
 * the log tail); `env` adds variables of your own.
 *
 * @param {{demo?: boolean, args?: string[], env?: Record<string,string>, timeoutMs?: number}} options
 * @returns {Promise<{url: string, port: number, dataDir: string, logPath: string, stop: () => Promise<void>}>}
 */
export async function startServer({ demo = false, args = [], env = {}, timeoutMs = 120_000 } = {}) {
  const bin = binaryPath();
  const port = await freePort();
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'careslot-web-'));
  const url = `http://127.0.0.1:${port}`;

  // One log per server: <test file>-<port>.log, the server's stdout and stderr.
  await fsp.mkdir(LOG_DIR, { recursive: true });
  const testName = path.basename(process.argv[1] || 'web', '.mjs').replace(/\.test$/, '');
  const logPath = path.join(LOG_DIR, `${testName}-${port}.log`);
  const log = fs.openSync(logPath, 'w');

  const childEnv = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !['DATABASE_URL', 'RUST_BACKTRACE', 'RUST_LIB_BACKTRACE'].includes(k) && !k.startsWith('CARESLOT_'),
    ),
  );
  // Every server has an operator token (the test's own file, or one made up here), so
  // tests can verify the practitioners they create (verifyPractitioner).
  let operatorArgs = [];
  let tokenFile;
  const given = args.indexOf('--operator-token-file');
  if (given >= 0) {
    tokenFile = args[given + 1];
  } else {
    tokenFile = path.join(dataDir, 'operator.token');
    fs.writeFileSync(tokenFile, `operator-${crypto.randomBytes(16).toString('hex')}`, { mode: 0o600 });
    operatorArgs = ['--operator-token-file', tokenFile];
  }
  const argv = [
    'serve',
    '--data-dir', dataDir,
    '--keys-dir', path.join(dataDir, 'keys'),
    '--bind', `127.0.0.1:${port}`,
    ...(demo ? ['--demo'] : []),
    ...operatorArgs,
    ...args,
  ];
  const child = spawn(bin, argv, {
    env: { ...childEnv, NO_COLOR: '1', ...env }, // NO_COLOR: plain-text logs
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log); // the child has its own copy of the descriptor
  running.add(child);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = signal ? `signal ${signal}` : `exit code ${code}`;
    running.delete(child);
  });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (exited === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await once(child, 'exit').catch(() => {});
      clearTimeout(killer);
    }
    await fsp.rm(dataDir, { recursive: true, force: true });
  };

  // Poll /healthz until 200; fail at once if the process dies, or after timeoutMs.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== null) {
      await stop();
      throw new Error(`careslot serve stopped (${exited}) before answering; log ${logPath}:\n${tail(logPath)}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`careslot serve did not answer /healthz within ${timeoutMs / 1000} s; log ${logPath}:\n${tail(logPath)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const operatorToken = fs.readFileSync(tokenFile, 'utf8').trim();
  return { url, port, dataDir, logPath, stop, operatorToken };
}

// ---------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------

/**
 * Launch headless Debian chromium ($CHROMIUM_PATH, default /usr/bin/chromium). Launch one per
 * test file and reuse it: a context per test is cheap, a browser is not.
 */
export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    throw new Error(
      `Chromium not found at ${executablePath}. Install it: apt-get install chromium ` +
        '(Debian), or set CHROMIUM_PATH to a Chromium/Chrome binary.',
    );
  }
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
  });
}

// What newPage records about each page, read with thirdPartyRequests() and consoleErrors().
const records = new WeakMap();

/**
 * A page in a fresh context (own cookies): viewport 390x844 for width 390 (phone), else
 * <width>x900; `locale` sets navigator.language and Accept-Language; with `baseURL` (the
 * server's url) page.goto('/path') works.
 *
 * Every request to another origin than the server's is recorded and aborted (the app must
 * make no third-party requests): assert with thirdPartyRequests(page). Console errors and
 * uncaught exceptions, which include Content-Security-Policy violations, are recorded too:
 * consoleErrors(page).
 *
 * @param {import('playwright-core').Browser} browser
 * @param {{width?: number, locale?: string, baseURL?: string}} options
 */
export async function newPage(browser, { width = DESKTOP.width, locale = 'en-GB', baseURL } = {}) {
  const viewport = width === PHONE.width ? { ...PHONE } : { width, height: DESKTOP.height };
  const context = await browser.newContext({ viewport, locale, baseURL });
  const own = baseURL ? new URL(baseURL).origin : null;
  // Not a network request, or one to the server itself (any loopback host if no baseURL).
  const isOwn = (u) =>
    !/^https?:$|^wss?:$/.test(u.protocol) ||
    (own ? u.origin === own : ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname));

  const rec = { thirdParty: [], errors: [] };
  await context.route((u) => !isOwn(u), (route) => {
    rec.thirdParty.push(route.request().url());
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') rec.errors.push(m.text());
  });
  page.on('pageerror', (e) => rec.errors.push(`uncaught: ${e.message}`));
  records.set(page, rec);
  return page;
}

/** URLs of the requests the page tried to send to another host than the server. */
export function thirdPartyRequests(page) {
  return [...(records.get(page)?.thirdParty ?? [])];
}

/** Console errors and uncaught exceptions of the page so far (CSP violations among them). */
export function consoleErrors(page) {
  return [...(records.get(page)?.errors ?? [])];
}

// ---------------------------------------------------------------------------------------
// Accessibility
// ---------------------------------------------------------------------------------------

let axeSource = null;

/**
 * Run axe-core (WCAG 2.0/2.1 A and AA rules) on the page as it is now, and fail listing every
 * serious or critical violation: rule, impact, help and the selectors of the elements.
 * Returns all violations, minor and moderate ones included, for tests that want them.
 *
 * How axe gets in despite the app's strict CSP (script-src 'self', no inline script): its
 * source is evaluated with page.evaluate, which Playwright runs through the DevTools protocol
 * and which CSP does not govern. page.addScriptTag would insert a <script> element that CSP
 * blocks, and bypassCSP would switch off the very policy the tests should run under; neither
 * is used. The pages' own CSP stays fully in force.
 *
 * @param {import('playwright-core').Page} page
 * @param {string} label names the page in the failure message
 */
export async function checkA11y(page, label) {
  axeSource ??= await fsp.readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  // A navigation drops window.axe: inject once per document.
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(axeSource);
  }
  const violations = await page.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags } });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      targets: v.nodes.map((n) => n.target.join(' ')),
    }));
  }, AXE_TAGS);
  const blocking = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.ok(
    blocking.length === 0,
    `${label}: ${blocking.length} serious or critical accessibility violation(s) at ${page.url()}\n` +
      blocking.map((v) => `  - ${v.id} (${v.impact}): ${v.help}\n      ${v.targets.join('\n      ')}`).join('\n'),
  );
  return violations;
}

// ---------------------------------------------------------------------------------------
// Screenshots and weight
// ---------------------------------------------------------------------------------------

/**
 * Full-page screenshots of the page at 390 px and 1280 px wide, to
 * target/web-screenshots/<name>-390.png and <name>-1280.png; the viewport is restored after.
 * @returns {Promise<string[]>} the two file paths
 */
export async function shoot(page, name) {
  await fsp.mkdir(SHOT_DIR, { recursive: true });
  const before = page.viewportSize();
  const files = [];
  try {
    for (const size of [PHONE, DESKTOP]) {
      await page.setViewportSize(size);
      const file = path.join(SHOT_DIR, `${name}-${size.width}.png`);
      await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
      files.push(file);
    }
  } finally {
    if (before) await page.setViewportSize(before);
  }
  return files;
}

/**
 * Load `url` in the page and add up the JavaScript it fetched (until the network is idle):
 * `bytes` is the decoded size of every script response, the number budgets are checked
 * against; `scripts` lists each one. Tests assert bytes <= 100 * 1024.
 * @returns {Promise<{bytes: number, scripts: {url: string, bytes: number}[]}>}
 */
export async function scriptWeight(page, url) {
  const pending = [];
  const onResponse = (res) => {
    if (res.request().resourceType() === 'script') {
      pending.push(res.body().then((b) => ({ url: res.url(), bytes: b.length }), () => ({ url: res.url(), bytes: 0 })));
    }
  };
  page.on('response', onResponse);
  try {
    await page.goto(url, { waitUntil: 'networkidle' });
  } finally {
    page.off('response', onResponse);
  }
  const scripts = await Promise.all(pending);
  return { bytes: scripts.reduce((sum, s) => sum + s.bytes, 0), scripts };
}

/** A valid French RPPS number (11 digits, the last a Luhn key), random. */
export function freshRpps() {
  const body = '1' + String(Math.floor(Math.random() * 1e9)).padStart(9, '0');
  for (let k = 0; k < 10; k++) {
    const n = body + k;
    let sum = 0;
    [...n].reverse().forEach((c, i) => {
      let d = Number(c);
      if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    });
    if (sum % 10 === 0) return n;
  }
  throw new Error('unreachable: one key digit always fits');
}

/**
 * Only verified practitioners are listed in search and sign prescriptions: declares a fresh
 * RPPS number for the practitioner holding `token` (who has a profile) and has the operator
 * verify it through the API. Returns the number.
 */
export async function verifyPractitioner(server, token) {
  const profile = await apiOk(server.url, 'GET', '/api/v1/practitioner/profile', { token });
  const rpps = freshRpps();
  await apiOk(server.url, 'PUT', '/api/v1/practitioner/identifier', { token, body: { scheme: 'rpps', identifier: rpps } });
  await apiOk(server.url, 'POST', `/api/v1/operator/practitioners/${profile.id}/verify`, { token: server.operatorToken, body: {} });
  return rpps;
}

/** A JSON API call to the server at `base`: `{status, body}` (body parsed, or null). */
export async function callApi(base, method, path, { token, body } = {}) {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined || body === null ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Like callApi, for set-up steps that must succeed: asserts a 2xx and returns the body. */
export async function apiOk(base, method, path, opts) {
  const res = await callApi(base, method, path, opts);
  assert.ok(res.status >= 200 && res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

// --- Two-factor authentication (issue 15): practitioners and assistants read patient data
// only after signing in with a TOTP code. These compute codes from the secret with RFC 6238
// (HMAC-SHA1, 6 digits, 30-second steps), as an authenticator app does.

/** RFC 4648 base32 (no padding) to bytes. */
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/=+$/, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The TOTP code of a base32 secret for one time step. */
export function totpAt(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = crypto.createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const off = h[19] & 0x0f;
  const bin = ((h[off] & 0x7f) << 24) | (h[off + 1] << 16) | (h[off + 2] << 8) | h[off + 3];
  return String(bin % 1_000_000).padStart(6, '0');
}

/**
 * A code `who` has not given yet: the server accepts each time step once (and the step
 * after the current one, for clock drift), so a second sign-in within 30 seconds uses the
 * next step, and a third waits for the clock.
 */
export async function nextCode(who) {
  for (;;) {
    const now = Math.floor(Date.now() / 30_000);
    for (const step of [now, now + 1]) {
      if (step > (who.lastStep ?? -1)) {
        who.lastStep = step;
        return totpAt(who.mfaSecret, step);
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Through the API: sets up two-factor authentication for `who` (`who.token`). */
export async function enrolMfa(base, who) {
  const e = await apiOk(base, 'POST', '/api/v1/me/mfa', { token: who.token, body: {} });
  who.mfaSecret = e.secret;
  await apiOk(base, 'POST', '/api/v1/me/mfa/confirm', { token: who.token, body: { code: await nextCode(who) } });
  return who;
}

/** After the sign-in form: gives the code when the server asks for it. */
export async function answerSecondFactor(page, who) {
  if (new URL(page.url()).pathname !== '/signin/code') return;
  await page.fill('#code', await nextCode(who));
  await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
}

/** On the pages: sets up two-factor authentication from the account's security page. */
export async function enrolOnPage(page, who) {
  await page.goto('/account/security');
  await Promise.all([page.waitForNavigation(), page.click('form[action="/account/security/mfa"] button[type=submit]')]);
  who.mfaSecret = (await page.textContent('[data-mfa-secret]')).trim();
  await page.fill('#code', await nextCode(who));
  await Promise.all([page.waitForNavigation(), page.click('form[action="/account/security/mfa/confirm"] button[type=submit]')]);
  assert.equal(await page.locator('[data-recovery-codes] li').count(), 10, 'ten recovery codes');
}

// --- Operator accounts (issue 15, point 5): the console is for named operator accounts with
// roles, signed in through the normal sign-in with a second factor (the operator token is
// for the API only).

/**
 * Creates an operator account with `roles` through the API (operator token) and sets its
 * password with the one-time link's token. Returns `{ id, email, password, name }`.
 */
export async function operatorAccount(server, roles, name = 'Olivia Operator') {
  const email = `operator.${Date.now()}.${crypto.randomBytes(3).toString('hex')}@authority.example`;
  const password = 'lantern orchard quietly 31';
  const created = await apiOk(server.url, 'POST', '/api/v1/operators', {
    token: server.operatorToken, body: { email, name, roles, lang: 'en' },
  });
  const token = new URL(created.set_password_link).searchParams.get('token');
  const res = await callApi(server.url, 'POST', '/api/v1/password-resets/confirm', { body: { token, password } });
  assert.equal(res.status, 204, `set password: ${JSON.stringify(res.body)}`);
  return { id: created.id, email, password, name };
}

/**
 * In the browser: from the console's sign-in page through the normal sign-in; the first
 * time, the console sends the operator to set up two-factor authentication (done here);
 * later, the code is asked at sign-in. Ends on the console.
 */
export async function operatorSignIn(page, who) {
  await page.goto('/operator');
  await Promise.all([page.waitForURL(/\/signin/), page.click('#operator-signin')]);
  await page.fill('#email', who.email);
  await page.fill('#password', who.password);
  await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
  await answerSecondFactor(page, who);
  if (new URL(page.url()).pathname === '/account/security') {
    await enrolOnPage(page, who);
    await page.goto('/operator');
  }
  assert.equal(new URL(page.url()).pathname, '/operator');
}
