// Issue 17 point 5, "no dead ends": every way a patient could get stuck leads somewhere.
// Each page is checked at 390 px and 1280 px (checkA11y at the page's width, shoot at both).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, checkA11y, shoot, PHONE, DESKTOP,
} from './lib/harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({ demo: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function visit(page, label) {
  await checkA11y(page, label);
  await shoot(page, label);
}

for (const width of [PHONE.width, DESKTOP.width]) {
  test(`an unknown URL shows a page in the visitor's language with a way home (${width} px)`, async () => {
    const page = await newPage(browser, { width, locale: 'de-DE', baseURL: server.url });
    try {
      const resp = await page.goto('/kein/solcher/ort');
      assert.equal(resp.status(), 404);
      assert.match(resp.headers()['content-type'], /^text\/html/);
      assert.equal(await page.locator('html').getAttribute('lang'), 'de');
      assert.equal(await page.locator('h1').innerText(), 'Seite nicht gefunden');
      const home = page.locator('main a[href="/"]');
      assert.equal(await home.count(), 1, 'a way home');
      await visit(page, `not-found-${width}`);
      await Promise.all([page.waitForURL(/\/$/), home.click()]);

      // A form's address opened by hand (405) is a page too, not problem+json.
      const wrong = await page.goto('/book/hold');
      assert.equal(wrong.status(), 405);
      assert.match(wrong.headers()['content-type'], /^text\/html/);
      assert.equal(await page.locator('main a[href="/"]').count(), 1);

      // The API keeps problem+json.
      const api = await page.request.get('/api/v1/no-such-endpoint');
      assert.equal(api.status(), 404);
      assert.match(api.headers()['content-type'], /application\/problem\+json/);
    } finally {
      await page.context().close();
    }
  });
}
