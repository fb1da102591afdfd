// Smoke test: a fresh server (no demo data) serves its health check and an accessible,
// self-contained home page under a Content-Security-Policy.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  launchBrowser,
  newPage,
  checkA11y,
  shoot,
  thirdPartyRequests,
} from './lib/harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({ demo: false });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('GET /healthz answers 200', async () => {
  const page = await newPage(browser, { baseURL: server.url });
  try {
    const res = await page.goto('/healthz');
    assert.equal(res.status(), 200);
  } finally {
    await page.context().close();
  }
});

test('the home page is an accessible HTML page with a CSP and no third-party requests', async () => {
  const page = await newPage(browser, { baseURL: server.url });
  try {
    const res = await page.goto('/');
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-type'] ?? '', /^text\/html/);
    assert.ok(res.headers()['content-security-policy'], 'the page has a content-security-policy header');
    assert.ok(await page.getAttribute('html', 'lang'), '<html> has a lang attribute');
    assert.equal(await page.locator('main').count(), 1, 'the page has one <main>');

    await checkA11y(page, 'home');
    await shoot(page, 'home');
    assert.deepEqual(thirdPartyRequests(page), [], 'no request leaves the server');
  } finally {
    await page.context().close();
  }
});

test('forms need the CSRF token; cookies are HttpOnly, Secure and SameSite', async () => {
  const page = await newPage(browser, { baseURL: server.url });
  try {
    const res = await page.goto('/signin');
    assert.match(res.headers()['content-security-policy'], /script-src 'self'/);
    assert.equal(res.headers()['x-frame-options'], 'DENY');
    const cookies = await page.context().cookies();
    const csrf = cookies.find((c) => c.name === 'careslot_csrf');
    assert.ok(csrf, 'a CSRF cookie is set');
    for (const c of cookies) {
      assert.equal(c.httpOnly, true, `${c.name} is HttpOnly`);
      assert.equal(c.secure, true, `${c.name} is Secure`);
      assert.equal(c.sameSite, 'Lax', `${c.name} is SameSite=Lax`);
    }
    // A form post without the token, or with another one, is refused.
    const without = await page.request.post('/signin', { form: { email: 'a@b.org', password: 'x' } });
    assert.equal(without.status(), 403);
    const wrong = await page.request.post('/signin', { form: { email: 'a@b.org', password: 'x', csrf: 'x'.repeat(43) } });
    assert.equal(wrong.status(), 403);
    const right = await page.request.post('/signin', { form: { email: 'a@b.org', password: 'wrong password', csrf: csrf.value }, maxRedirects: 0 });
    assert.equal(right.status(), 200, 'with the token the form is processed (and says the sign-in failed)');
    assert.match(await right.text(), /role="alert"/);
  } finally {
    await page.context().close();
  }
});

test('a page with missing parameters answers an error page in the visitor language', async () => {
  const page = await newPage(browser, { locale: 'de-DE', baseURL: server.url });
  try {
    const res = await page.goto('/pro/agenda/book');
    assert.equal(res.status(), 400);
    assert.match(res.headers()['content-type'] ?? '', /^text\/html/);
    assert.equal(await page.getAttribute('html', 'lang'), 'de');
    await checkA11y(page, 'error-400');
  } finally {
    await page.context().close();
  }
});
