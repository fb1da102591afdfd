// Issue 17 point 5, "no dead ends": every way a patient could get stuck leads somewhere.
// Each page is checked at 390 px and 1280 px (checkA11y at the page's width, shoot at both).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, checkA11y, shoot, PHONE, DESKTOP, enrolOnPage,
} from './lib/harness.mjs';
import { startMailbox, typeSignupCode } from './lib/mailbox.mjs';

let server;
let browser;
let mailbox;

before(async () => {
  mailbox = await startMailbox();
  server = await startServer({ demo: true, args: mailbox.args });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  mailbox?.stop();
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

/** Signs a demo patient in on the page. */
async function signIn(page, email) {
  await page.goto('/signin');
  await page.fill('#email', email);
  await page.fill('#password', 'careslot-demo');
  await Promise.all([page.waitForNavigation(), page.click('form[action="/signin"] button[type=submit]')]);
}

/** Books the first slot of the first dentist in `city`; returns the appointment's id. */
async function bookFirst(page, city) {
  await page.goto(`/search?q=Dentist&where=${city}`);
  const agenda = await page.locator('li.result').first().getAttribute('data-agenda');
  await page.goto(`/p/${agenda}`);
  await Promise.all([page.waitForURL(/\/book\//), page.locator('button.slot').first().click()]);
  await Promise.all([page.waitForURL(/booked=1/), page.click('form[action$="/confirm"] button[type=submit]')]);
  return new URL(page.url()).pathname.split('/').pop();
}

for (const [width, who] of [[PHONE.width, 'patient11'], [DESKTOP.width, 'patient12']]) {
  test(`cancel and move ask first, with the practice's rules, without JavaScript (${width} px)`, async () => {
    const page = await newPage(browser, { width, locale: 'en-GB', baseURL: server.url });
    try {
      await signIn(page, `${who}@demo.careslot.test`);
      const id = await bookFirst(page, 'Lyon');
      const before = await page.locator('.summary-card h2').innerText();

      // Cancel leads to a question, not to a cancellation; "keep" keeps it.
      await Promise.all([page.waitForURL(new RegExp(`/appointments/${id}/cancel$`)), page.click('#cancel-link')]);
      assert.equal(await page.locator('h1').innerText(), 'Cancel this appointment?');
      assert.equal(await page.locator('.change-rules li, .change-rules p').count() > 0, true, 'the rules are stated');
      await visit(page, `cancel-confirm-${width}`);
      await Promise.all([page.waitForURL(new RegExp(`/appointments/${id}$`)), page.click('#keep')]);
      assert.match(await page.locator('.status').innerText(), /Confirmed|Booked/i);

      // A bare POST (an old page's one-click form) cancels nothing: it asks.
      const csrf = (await page.context().cookies()).find((c) => c.name === 'careslot_csrf')?.value;
      assert.ok(csrf, 'a CSRF cookie');
      const r = await page.request.post(`/appointments/${id}/cancel`, { form: { csrf }, maxRedirects: 0 });
      assert.equal(r.status(), 303);
      assert.match(r.headers().location, new RegExp(`/appointments/${id}/cancel$`));

      // Move: the chosen slot is shown against the current time before anything changes.
      await page.goto(`/appointments/${id}/move`);
      await Promise.all([page.waitForNavigation(), page.locator('button.slot').nth(1).click()]);
      assert.equal(await page.locator('h1').innerText(), 'Move this appointment?');
      const target = await page.locator('.new-time').innerText();
      await visit(page, `move-confirm-${width}`);
      await page.goto(`/appointments/${id}`);
      assert.equal(await page.locator('.summary-card h2').innerText(), before, 'not moved before confirming');
      await page.goto(`/appointments/${id}/move`);
      await Promise.all([page.waitForNavigation(), page.locator('button.slot').nth(1).click()]);
      await Promise.all([page.waitForURL(new RegExp(`/appointments/${id}$`)), page.click('#confirm-change')]);
      assert.equal(await page.locator('.summary-card h2').innerText(), target, 'moved to the confirmed time');

      // And cancelled once confirmed, in a browser with JavaScript off (same session).
      const noJs = await browser.newContext({
        javaScriptEnabled: false, baseURL: server.url, viewport: page.viewportSize(),
        storageState: await page.context().storageState(),
      });
      try {
        const plain = await noJs.newPage();
        await plain.goto(`/appointments/${id}`);
        await Promise.all([plain.waitForURL(new RegExp(`/appointments/${id}/cancel$`)), plain.click('#cancel-link')]);
        await Promise.all([plain.waitForURL(/\/appointments$/), plain.click('#confirm-change')]);
        assert.equal(await plain.locator(`section[aria-labelledby=past-h] [data-appointment="${id}"]`).count(), 1);
      } finally {
        await noJs.close();
      }
    } finally {
      await page.context().close();
    }
  });
}

for (const [width, who] of [[PHONE.width, 'patient13'], [DESKTOP.width, 'patient14']]) {
  test(`a cancelled or past appointment offers "book again" to the same practitioner and motive (${width} px)`, async () => {
    const page = await newPage(browser, { width, locale: 'fr-FR', baseURL: server.url });
    try {
      await signIn(page, `${who}@demo.careslot.test`);
      const id = await bookFirst(page, 'Paris');
      const practitioner = (await page.locator('.summary-card p').first().innerText()).split(' · ')[0];
      const motive = await page.locator('.summary-card p').nth(1).innerText();
      assert.equal(await page.locator('.book-again').count(), 0, 'not on an upcoming appointment');
      await page.goto(`/appointments/${id}/cancel`);
      await Promise.all([page.waitForURL(/\/appointments$/), page.click('#confirm-change')]);

      // Every past or cancelled card offers it; the cancelled one among them.
      const past = page.locator('section[aria-labelledby=past-h] article.appt');
      assert.equal(await past.locator('.book-again').count(), await past.count());
      await visit(page, `book-again-list-${width}`);
      const again = page.locator(`[data-appointment="${id}"] .book-again`);
      assert.equal(await again.count(), 1);

      // It opens the practitioner's page on that motive, and a slot books the same again.
      await Promise.all([page.waitForURL(/\/p\/[^?]+\?motive=/), again.click()]);
      assert.match(await page.locator('h1').innerText(), new RegExp(practitioner.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.equal(await page.locator('a.motive[aria-current=true]').count(), 1, 'the motive is chosen');
      await Promise.all([page.waitForURL(/\/book\//), page.locator('button.slot').first().click()]);
      await Promise.all([page.waitForURL(/booked=1/), page.click('form[action$="/confirm"] button[type=submit]')]);
      assert.match(await page.locator('.summary-card').innerText(), new RegExp(practitioner.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.equal(await page.locator('.summary-card p').nth(1).innerText(), motive);

      // The detail page of the cancelled one offers it too.
      await page.goto(`/appointments/${id}`);
      assert.equal(await page.locator('.actions .book-again').count(), 1);
      await visit(page, `book-again-detail-${width}`);
    } finally {
      await page.context().close();
    }
  });
}

// Holds that last 5 seconds, so a hold lapses without the test waiting minutes; every wait
// below is for a state of the page, never a fixed delay.
let shortHolds;
before(async () => {
  shortHolds = await startServer({ demo: true, args: ['--hold-ttl', '5'] });
});
after(async () => {
  await shortHolds?.stop();
});

/** Holds the first slot of the first dentist in `city` on `page`; returns the hold's id. */
async function holdFirst(page, city) {
  await page.goto(`/search?q=Dentist&where=${city}`);
  const agenda = await page.locator('li.result').first().getAttribute('data-agenda');
  await page.goto(`/p/${agenda}`);
  await Promise.all([page.waitForURL(/\/book\/[^/]+$/), page.locator('button.slot').first().click()]);
  return new URL(page.url()).pathname.split('/').pop();
}

for (const [width, who] of [[PHONE.width, 'patient15'], [DESKTOP.width, 'patient16']]) {
  test(`a lapsed hold offers no Confirm but the practitioner's next times (${width} px)`, async () => {
    const page = await newPage(browser, { width, locale: 'en-GB', baseURL: shortHolds.url });
    try {
      await signIn(page, `${who}@demo.careslot.test`);
      const hold = await holdFirst(page, 'Marseille');
      const practitioner = await page.locator('.summary-card h2').innerText();

      // Once the countdown ends, the forms give way to the offer of the next times.
      await page.locator('[data-hold-lapsed]').waitFor({ state: 'visible', timeout: 60_000 });
      assert.equal(await page.locator('form[action$="/confirm"] button[type=submit]').isVisible(), false);
      await visit(page, `hold-lapsed-review-${width}`);

      // A Confirm sent anyway (no script, an old tab) lands on that offer, not on the home page.
      const csrf = (await page.context().cookies()).find((c) => c.name === 'careslot_csrf')?.value;
      const r = await page.request.post(`/book/${hold}/confirm`, { form: { csrf, for: 'self' }, maxRedirects: 0 });
      assert.equal(r.status(), 303);
      assert.equal(new URL(r.headers().location, shortHolds.url).pathname, `/book/${hold}`);

      await Promise.all([page.waitForURL(new RegExp(`/book/${hold}$`)), page.click('#next-times')]);
      assert.equal(await page.locator('.lapsed-page').count(), 1);
      assert.equal(await page.locator('form[action$="/confirm"]').count(), 0, 'no Confirm');
      assert.equal(await page.locator('.summary-card h2').innerText(), practitioner);
      const next = page.locator('.lapsed-page button.slot');
      assert.ok((await next.count()) > 0, 'the next times are offered');
      assert.match(await page.locator('#all-times').getAttribute('href'), /^\/p\/[^?]+\?motive=/);
      await visit(page, `hold-lapsed-offer-${width}`);

      // One click holds a new time with the same practitioner.
      await Promise.all([page.waitForURL((u) => /\/book\/[^/]+$/.test(u.pathname) && !u.pathname.endsWith(hold)), next.first().click()]);
      assert.equal(await page.locator('.summary-card h2').innerText(), practitioner);
    } finally {
      await page.context().close();
    }
  });
}

test("a guest's lapsed hold gets the same offer", async () => {
  const page = await newPage(browser, { width: PHONE.width, locale: 'de-DE', baseURL: shortHolds.url });
  try {
    const hold = await holdFirst(page, 'Lyon');
    await page.locator('[data-hold-lapsed]').waitFor({ state: 'visible', timeout: 60_000 });
    await page.goto(`/book/${hold}`);
    assert.equal(await page.locator('.lapsed-page').count(), 1);
    assert.ok((await page.locator('.lapsed-page button.slot').count()) > 0);
    await checkA11y(page, 'hold-lapsed-guest');
  } finally {
    await page.context().close();
  }
});

for (const width of [PHONE.width, DESKTOP.width]) {
  test(`new motives get a 2 h minimum notice, shown and editable in the settings (${width} px)`, async () => {
    const page = await newPage(browser, { width, locale: 'en-GB', baseURL: server.url });
    const doctor = { email: `notice.${width}.${Date.now()}@example.org`, password: 'correct horse battery' };
    const submit = (selector = 'main form button[type=submit]') =>
      Promise.all([page.waitForNavigation(), page.click(selector)]);
    try {
      await page.goto('/pro/signup');
      await page.fill('#name', 'Dr Nora Notice');
      await page.fill('#email', doctor.email);
      await page.fill('#password', doctor.password);
      await submit();
      await typeSignupCode(page, mailbox, doctor.email);
      await page.selectOption('#specialty', 'general-practitioner');
      await submit();
      await page.fill('#place_name', 'Cabinet Notice');
      await page.fill('#address', '3 rue Mercière');
      await page.fill('#postcode', '69002');
      await page.fill('#city', 'Lyon');
      await submit();

      // Onboarding says what the motives get and where to change it.
      assert.match(page.url(), /\/pro\/onboarding\/motives$/);
      assert.match(await page.locator('#notice-default').innerText(), /2 h/);
      await visit(page, `onboarding-notice-${width}`);
      await submit();
      for (const d of ['6', '7']) await page.check(`#wd-${d}`); // every day: bookable whatever today is
      const asked = Date.now();
      await submit();

      // The public page offers no time that starts within 2 h of the request.
      assert.match(page.url(), /\/p\/[^/]+$/);
      const starts = await page.locator('button.slot').evaluateAll((bs) => bs.map((b) => b.value));
      assert.ok(starts.length > 0, 'bookable');
      for (const s of starts) {
        assert.ok(Date.parse(s) >= asked + 2 * 3600 * 1000, `${s} starts less than 2 h after the request`);
      }

      // Shown and editable in the settings; a new motive's field starts at 120.
      await page.goto('/pro/settings');
      if (!new URL(page.url()).pathname.startsWith('/pro/settings')) {
        await enrolOnPage(page, doctor);
        await page.goto('/pro/settings');
      }
      const notice = page.locator('form.motive-edit input[name=notice]').first();
      assert.equal(await notice.inputValue(), '120');
      const hint = page.locator('form.motive-edit .hint[id^=notice-hint-]').first();
      assert.equal(await hint.innerText(), 'Bookable online up to 2 h before the start.');
      assert.equal(await page.inputValue('#new-notice'), '120');
      await visit(page, `settings-notice-${width}`);
      await notice.fill('30');
      await submit('form.motive-edit button[type=submit]');
      assert.equal(await page.locator('form.motive-edit input[name=notice]').first().inputValue(), '30');
      assert.equal(await page.locator('form.motive-edit .hint[id^=notice-hint-]').first().innerText(), 'Bookable online up to 30 min before the start.');
    } finally {
      await page.context().close();
    }
  });
}
