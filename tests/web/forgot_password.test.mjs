// "Forgot password" from the sign-in page, with the mail read from a REAL SMTP server
// (aiosmtpd's Mailbox handler writing a maildir): the link in the mail is followed, a new
// password set, the session signed in before is rejected, and the new password signs in.
// Every page visited passes axe and is photographed.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, launchBrowser, newPage, checkA11y, shoot, DESKTOP } from './lib/harness.mjs';

let smtp;
let mailDir;
let server;
let browser;

const EMAIL = `forgetful-${process.pid}@example.test`;
const OLD_PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a brand new passphrase';

/** A free loopback port (the kernel's choice for port 0). */
async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** Waits (bounded) until something listens on the port. */
async function waitForPort(port, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    assert.ok(Date.now() < deadline, `aiosmtpd did not listen on ${port}: is it installed (scripts/install-test-deps)?`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The plain-text part of every message in the maildir, read by python's email package. */
function mails() {
  const dir = path.join(mailDir, 'new');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).sort().map((f) => execFileSync('python3', ['-c', `
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)
print(m['To'])
print(m.get_body(preferencelist=('plain',)).get_content())
`, path.join(dir, f)], { encoding: 'utf8' }));
}

async function waitForMailWith(pattern, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = mails().find((m) => pattern.test(m));
    if (found) return found;
    assert.ok(Date.now() < deadline, `no mail matching ${pattern} among ${mails().length}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  mailDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'careslot-mail-'));
  // aiosmtpd's Mailbox handler writes into an existing maildir.
  for (const sub of ['cur', 'new', 'tmp']) await fsp.mkdir(path.join(mailDir, sub));
  const port = await freePort();
  smtp = spawn('python3', ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`,
    '-c', 'aiosmtpd.handlers.Mailbox', mailDir], { stdio: 'ignore' });
  await waitForPort(port);
  server = await startServer({ args: ['--smtp-url', `smtp://127.0.0.1:${port}`] });
  browser = await launchBrowser();
  const r = await fetch(`${server.url}/api/v1/accounts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: EMAIL, password: OLD_PASSWORD, name: 'Patient Forgetful', role: 'patient' }),
  });
  assert.equal(r.status, 201, await r.text());
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (smtp && smtp.exitCode === null) smtp.kill('SIGTERM');
});

async function visit(page, label) {
  await checkA11y(page, label);
  await shoot(page, label);
}

test('forgot password: mail from a real SMTP server, new password, old session rejected', async () => {
  // A session signed in before the reset, in its own browser context.
  const before = await newPage(browser, { width: DESKTOP.width, locale: 'en-GB', baseURL: server.url });
  const page = await newPage(browser, { width: DESKTOP.width, locale: 'en-GB', baseURL: server.url });
  try {
    await before.goto('/signin');
    await before.fill('#email', EMAIL);
    await before.fill('#password', OLD_PASSWORD);
    await Promise.all([before.waitForURL((u) => !u.pathname.startsWith('/signin')), before.click('form[action="/signin"] button[type=submit]')]);
    const signedIn = await before.goto('/account');
    assert.equal(signedIn.status(), 200, 'signed in before the reset');

    // From the sign-in page: "forgot password", the address, the answer.
    await page.goto('/signin');
    await Promise.all([page.waitForURL(/\/password-reset$/), page.click('a[href="/password-reset"]')]);
    await visit(page, 'forgot-password');
    await page.fill('#email', EMAIL);
    await page.click('form[action="/password-reset/request"] button[type=submit]');
    await page.locator('[role=status]').waitFor();
    await visit(page, 'forgot-password-sent');

    // The mail arrives at the SMTP server, to this address, with a reset link (after the
    // sign-up's verification mail).
    const mail = await waitForMailWith(/\/password-reset\?token=/);
    assert.ok(mail.startsWith(EMAIL), mail);
    const link = mail.match(/https?:\/\/\S+\/password-reset\?token=[A-Za-z0-9_-]+/);
    assert.ok(link, `a reset link in the mail:\n${mail}`);
    // Followed on this server (the link's host is the configured public URL).
    const target = new URL(link[0]);
    await page.goto(`${target.pathname}${target.search}`);
    await visit(page, 'reset-new-password');
    await page.fill('#password', NEW_PASSWORD);
    await Promise.all([page.waitForURL(/\/signin/), page.click('form[action="/password-reset"] button[type=submit]')]);

    // The session from before is over.
    const rejected = await before.goto('/account');
    assert.equal(rejected.status(), 401, 'the old session is rejected');

    // The old password no longer works; the new one does.
    await page.fill('#email', EMAIL);
    await page.fill('#password', OLD_PASSWORD);
    await page.click('form[action="/signin"] button[type=submit]');
    await page.waitForLoadState();
    assert.match(new URL(page.url()).pathname, /^\/signin/, 'the old password is refused');
    await page.fill('#email', EMAIL);
    await page.fill('#password', NEW_PASSWORD);
    await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/signin')), page.click('form[action="/signin"] button[type=submit]')]);
    const mine = await page.goto('/account');
    assert.equal(mine.status(), 200, 'signed in with the new password');
    await visit(page, 'account-after-reset');
    assert.equal(mails().filter((m) => /\/password-reset\?token=/.test(m)).length, 1, 'one reset mail only');
  } finally {
    await before.context().close();
    await page.context().close();
  }
});
