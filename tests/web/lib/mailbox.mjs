// A real SMTP server for browser tests (aiosmtpd's Mailbox handler writing a maildir, as in
// forgot_password.test.mjs), and the instant sign-up's code read from it: the sign-up forms
// of the booking pages and of onboarding mail a 6-digit code before anyone is signed in; the
// sign-up page mails a verification link, which must be followed before signing in.

import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

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

/**
 * Starts aiosmtpd; returns `{ args, codeFor(email), verificationLinkFor(email), stop() }`,
 * where `args` are the server's
 * flags that send its mail there.
 */
export async function startMailbox() {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'careslot-mail-'));
  for (const sub of ['cur', 'new', 'tmp']) await fsp.mkdir(path.join(dir, sub));
  const port = await freePort();
  const smtp = spawn('python3', ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`,
    '-c', 'aiosmtpd.handlers.Mailbox', dir], { stdio: 'ignore' });
  await waitForPort(port);

  /** Each message as "To\nplain text", oldest first, read by python's email package. */
  const mails = () => {
    const inbox = path.join(dir, 'new');
    if (!fs.existsSync(inbox)) return [];
    return fs.readdirSync(inbox).sort().map((f) => execFileSync('python3', ['-c', `
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)
print(m['To'])
print(m.get_body(preferencelist=('plain',)).get_content())
`, path.join(inbox, f)], { encoding: 'utf8' }));
  };

  /** The code of the `nth` (1-based) sign-up code mail to `email`, waited for (bounded). */
  const codeFor = async (email, nth = 1, ms = 30_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const codes = mails()
        .filter((m) => m.split('\n', 1)[0].trim() === email)
        .map((m) => m.match(/^ {2}(\d{6})$/m))
        .filter(Boolean);
      if (codes.length >= nth) return codes[nth - 1][1];
      assert.ok(Date.now() < deadline, `no sign-up code mailed to ${email}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  /**
   * The `nth` (1-based) email-verification link mailed to `email`, as a path on this server
   * (the mail names the configured public URL), waited for (bounded).
   */
  const verificationLinkFor = async (email, nth = 1, ms = 30_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const links = mails()
        .filter((m) => m.split('\n', 1)[0].trim() === email)
        .map((m) => m.match(/https?:\/\/\S+\/email-verification\?token=[A-Za-z0-9_-]+/))
        .filter(Boolean);
      if (links.length >= nth) {
        const url = new URL(links[nth - 1][0]);
        return `${url.pathname}${url.search}`;
      }
      assert.ok(Date.now() < deadline, `no verification link mailed to ${email}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const stop = () => { if (smtp.exitCode === null) smtp.kill('SIGTERM'); };
  return { args: ['--smtp-url', `smtp://127.0.0.1:${port}`], codeFor, verificationLinkFor, mails, stop };
}

/**
 * On a page showing the sign-up's code step (the booking's code page, or onboarding's profile
 * with the code on top): types the code mailed to `email`. Submitting is left to the caller.
 */
export async function typeSignupCode(page, mailbox, email) {
  await page.locator('#code').waitFor();
  await page.fill('#code', await mailbox.codeFor(email));
}
