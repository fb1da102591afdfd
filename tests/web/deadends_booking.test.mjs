// Issue 17 point 5, "no dead ends", on the way to a booking: a guest's vaccination choice
// survives signing up or in, a centre's search card books the series with its second dose,
// the result cards' strips expand and page (with and without JavaScript), and "this time was
// just taken" opens on the next times. Each page is checked at 390 px and 1280 px.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, launchBrowser, newPage, checkA11y, shoot, PHONE, DESKTOP, enrolOnPage } from './lib/harness.mjs';
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

const CENTRES = '/search?q=Centre%20de%20vaccination&where=Lyon';

for (const [width, how] of [[PHONE.width, 'signup'], [DESKTOP.width, 'signin']]) {
  test(`a guest's two doses survive the ${how} and are confirmed together (${width} px)`, async () => {
    const page = await newPage(browser, { width, locale: 'fr-FR', baseURL: server.url });
    try {
      // Every centre's card leads to the series (first dose, then the second), not to a
      // generic motive booked alone.
      await page.goto(CENTRES);
      const cards = page.locator('li.result');
      assert.ok((await cards.count()) > 0, 'centres are found');
      const actions = await page.locator('li.result form.when').evaluateAll((fs) => fs.map((f) => f.getAttribute('action')));
      assert.ok(actions.length > 0);
      for (const a of actions) assert.equal(a, '/vaccination/second-dose');
      for (const label of await page.locator('li.result form.when p.small').allInnerTexts()) {
        assert.match(label, /1re dose/);
      }
      await visit(page, `centre-cards-${width}`);

      // A guest picks dose 1 on the card, then dose 2: no sign-in in between. The card's
      // last time, not its first: the series is booked without a hold, and the first time of
      // today can pass while the test signs in (then the booking rightly answers "taken").
      const card = cards.first();
      await Promise.all([page.waitForURL(/\/vaccination\/second-dose\?/), card.locator('button.slot').last().click()]);
      await visit(page, `second-dose-guest-${width}`);
      const dose2 = page.locator('.second-dose button.slot').first();
      const dose2Label = await dose2.getAttribute('aria-label');
      await Promise.all([page.waitForURL(/\/vaccination\/review\?/), dose2.click()]);
      const dose1Text = await page.locator('.dose1').innerText();
      const dose2Text = await page.locator('.dose2').innerText();
      assert.ok(dose2Text.includes(dose2Label), `${dose2Text} shows ${dose2Label}`);
      assert.equal(await page.locator('#confirm-doses').count(), 0, 'a guest signs in or up first');
      await visit(page, `vaccination-review-guest-${width}`);

      if (how === 'signup') {
        const gaspard = `gaspard.${Date.now()}@example.org`;
        await page.fill('#up-name', 'Gaspard Invité');
        await page.fill('#up-email', gaspard);
        await page.fill('#up-password', 'guest password 12');
        await Promise.all([page.waitForNavigation(), page.click('form[action="/vaccination/review/signup"] button[type=submit]')]);
        // Verify first: the code mailed to the address; the series chosen is carried along.
        await visit(page, `vaccination-signup-code-${width}`);
        await typeSignupCode(page, mailbox, gaspard);
        await Promise.all([page.waitForNavigation(), page.click('form[action="/vaccination/review/signup/code"] button[type=submit]')]);
      } else {
        await page.fill('#in-email', 'patient21@demo.careslot.test');
        await page.fill('#in-password', 'careslot-demo');
        await Promise.all([page.waitForNavigation(), page.click('form[action="/vaccination/review/signin"] button[type=submit]')]);
      }

      // Back on the review of the same two times, now with Confirm.
      assert.match(page.url(), /\/vaccination\/review\?/);
      assert.equal(await page.locator('.dose1').innerText(), dose1Text);
      assert.equal(await page.locator('.dose2').innerText(), dose2Text);
      await visit(page, `vaccination-review-${how}-${width}`);
      await Promise.all([page.waitForURL(/booked=1/), page.click('#confirm-doses')]);
      assert.equal(await page.locator('h1.ok').count(), 1);
      assert.equal(await page.locator('.series').count(), 1, 'the second dose is booked with the first');
      if (how === 'signup') {
        await page.goto('/appointments');
        assert.equal(await page.locator('section[aria-labelledby=up-h] [data-appointment]').count(), 2, 'both doses');
      }
    } finally {
      await page.context().close();
    }
  });
}

/** The first card with a "+N" link, and that day. */
async function cardWithMore(page) {
  // Locators only: this also runs with JavaScript off, where page.evaluate cannot.
  const card = page.locator('li.result:has(.slots .more a)').first();
  assert.equal(await card.count(), 1, 'a day with more times than shown');
  const id = await card.getAttribute('id');
  const more = page.locator(`#${id} .slots .more a`).first();
  const day = await more.getAttribute('data-expand');
  return { card: page.locator(`#${id}`), day, more };
}

const firstDay = (card) => card.locator('[data-strip] .day').first().getAttribute('data-day');
const plusDays = (date, n) => {
  const d = new Date(`${date}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
};

for (const width of [PHONE.width, DESKTOP.width]) {
  test(`a card's "+N" shows the day's times and its strip pages, in place (${width} px)`, async () => {
    const page = await newPage(browser, { width, locale: 'en-GB', baseURL: server.url });
    try {
      await page.goto(CENTRES);
      const url = page.url();
      const { card, day, more } = await cardWithMore(page);
      const hidden = Number((await more.innerText()).match(/\+(\d+)/)[1]);
      const dayTimes = card.locator(`[data-day="${day}"] button.slot`);
      const shown = await dayTimes.count();
      await more.click();
      await card.locator(`[data-day="${day}"] .more`).waitFor({ state: 'detached' });
      assert.equal(await dayTimes.count(), shown + hidden, 'all of the day\'s times');
      assert.equal(page.url(), url, 'in place');
      assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('slot')), true, 'focus on the first time revealed');
      await visit(page, `strip-expanded-${width}`);

      // Later days, then back.
      const start = await firstDay(card);
      await card.locator('a.later').click();
      await page.waitForFunction(([id, d]) => document.querySelector(`#${id} [data-strip] .day`)?.getAttribute('data-day') === d,
        [await card.getAttribute('id'), plusDays(start, 3)]);
      assert.equal(page.url(), url, 'in place');
      assert.equal(await card.locator('[data-strip] .day').count(), 3);
      await visit(page, `strip-later-${width}`);
      await card.locator('a.earlier').click();
      await page.waitForFunction(([id, d]) => document.querySelector(`#${id} [data-strip] .day`)?.getAttribute('data-day') === d,
        [await card.getAttribute('id'), start]);
    } finally {
      await page.context().close();
    }
  });
}

test('the strip\'s links work without JavaScript', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false, baseURL: server.url, viewport: PHONE, locale: 'en-GB' });
  try {
    const page = await context.newPage();
    await page.goto(CENTRES);
    const { card, day, more } = await cardWithMore(page);
    const id = await card.getAttribute('id');
    const hidden = Number((await more.innerText()).match(/\+(\d+)/)[1]);
    const shown = await card.locator(`[data-day="${day}"] button.slot`).count();
    await Promise.all([page.waitForURL(/[?&]day=/), more.click()]);
    const again = page.locator(`#${id}`);
    assert.equal(await again.locator(`[data-day="${day}"] button.slot`).count(), shown + hidden);
    const start = await firstDay(again);
    await Promise.all([page.waitForURL(/[?&]from=/), again.locator('a.later').click()]);
    assert.equal(await firstDay(page.locator(`#${id}`)), plusDays(start, 3));
    assert.equal(await page.locator(`#${id} [data-strip] .day`).count(), 3);
  } finally {
    await context.close();
  }
});

for (const width of [PHONE.width, DESKTOP.width]) {
  test(`"this time was just taken" opens right above the next times (${width} px)`, async () => {
    const late = await newPage(browser, { width, locale: 'de-DE', baseURL: server.url });
    const quick = await newPage(browser, { width, locale: 'de-DE', baseURL: server.url });
    try {
      await late.goto(`/search?q=Dentist&where=${width === PHONE.width ? 'Bordeaux' : 'Toulouse'}`);
      const agenda = await late.locator('li.result').first().getAttribute('data-agenda');
      await late.goto(`/p/${agenda}`);
      const wanted = await late.locator('button.slot').first().getAttribute('value');

      // Someone else holds that time first.
      await quick.goto(`/p/${agenda}`);
      assert.equal(await quick.locator('button.slot').first().getAttribute('value'), wanted);
      await Promise.all([quick.waitForURL(/\/book\//), quick.locator('button.slot').first().click()]);

      await Promise.all([late.waitForURL(/taken=1/), late.locator(`button.slot[value="${wanted}"]`).click()]);
      const message = late.locator('#taken');
      assert.match(await message.innerText(), /gerade vergeben/);
      assert.equal(await late.evaluate(() => document.activeElement?.id), 'taken', 'the message has the focus');
      const m = await message.boundingBox();
      const first = await late.locator('button.slot').first().boundingBox();
      const viewport = late.viewportSize();
      assert.ok(m.y >= -1 && m.y < viewport.height, `the message is on screen (y ${m.y})`);
      // Between them only the week's navigation, whose label wraps at 390 px when the week spans two months.
      assert.ok(first.y > m.y && first.y - (m.y + m.height) < 220, `the next times follow the message (${first.y - (m.y + m.height)} px)`);
      assert.ok(first.y + first.height <= viewport.height, 'the first next time is on screen');
      assert.notEqual(await late.locator('button.slot').first().getAttribute('value'), wanted);
      await visit(late, `slot-taken-${width}`);
    } finally {
      await late.context().close();
      await quick.context().close();
    }
  });
}

/** The appointment page's calendar file, downloaded as the patient would. */
async function downloadIcs(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[href$="/calendar.ics"]')]);
  return fs.readFileSync(await download.path(), 'utf8');
}

/** A practitioner signed up and onboarded on the pages (Lyon, every day); ends on the public page. */
async function onboard(page, name, email) {
  const submit = (selector = 'main form button[type=submit]') =>
    Promise.all([page.waitForNavigation(), page.click(selector)]);
  await page.goto('/pro/signup');
  await page.fill('#name', name);
  await page.fill('#email', email);
  await page.fill('#password', 'correct horse battery');
  await submit();
  await typeSignupCode(page, mailbox, email);
  await page.selectOption('#specialty', 'general-practitioner');
  await submit();
  await page.fill('#place_name', 'Cabinet Polyglotte');
  await page.fill('#address', '3 rue Mercière');
  await page.fill('#postcode', '69002');
  await page.fill('#city', 'Lyon');
  await submit();
  await submit();
  for (const d of ['6', '7']) await page.check(`#wd-${d}`);
  await submit();
  assert.match(page.url(), /\/p\/[^/]+$/);
  return new URL(page.url()).pathname.split('/').pop();
}

for (const width of [PHONE.width, DESKTOP.width]) {
  test(`motive labels per language on the pages, the confirmation and the .ics (${width} px)`, async () => {
    const pro = await newPage(browser, { width, locale: 'fr-FR', baseURL: server.url });
    const visitor = await newPage(browser, { width, locale: 'de-DE', baseURL: server.url });
    const doctor = { email: `polyglot.${width}.${Date.now()}@example.org`, password: 'correct horse battery' };
    try {
      const agenda = await onboard(pro, 'Dr Paula Polyglotte', doctor.email);
      await pro.goto('/pro/settings');
      if (!new URL(pro.url()).pathname.startsWith('/pro/settings')) {
        await enrolOnPage(pro, doctor);
        await pro.goto('/pro/settings');
      }
      const form = pro.locator('form.motive-edit').first();
      const name = await form.locator('input[name=name]').inputValue();
      await form.locator('input[name=label_de]').fill('Erstgespräch');
      await form.locator('input[name=label_en]').fill('First consultation');
      await visit(pro, `settings-labels-${width}`);
      await Promise.all([pro.waitForNavigation(), form.locator('button[type=submit]').click()]);
      const saved = pro.locator('form.motive-edit').first();
      assert.equal(await saved.locator('input[name=label_de]').inputValue(), 'Erstgespräch');
      assert.equal(await saved.locator('input[name=label_it]').inputValue(), '', 'no Italian: the default applies');

      // The public API gives them next to the default name.
      const api = await (await pro.request.get(`/api/v1/agendas/${agenda}`)).json();
      const described = api.motives.find((m) => m.name === name);
      assert.deepEqual(described?.labels, { de: 'Erstgespräch', en: 'First consultation' });

      // A German visitor reads the German label; a French one, the default.
      await visitor.goto(`/p/${agenda}`);
      assert.match(await visitor.locator('a.motive').first().innerText(), /Erstgespräch/);
      assert.equal(await visitor.locator('#slots-h').innerText(), 'Erstgespräch');
      await visit(visitor, `labels-public-de-${width}`);
      await pro.goto(`/p/${agenda}`);
      assert.equal(await pro.locator('#slots-h').innerText(), name);

      // Booked in German: the review and the confirmation say it in German.
      await Promise.all([visitor.waitForURL(/\/book\//), visitor.locator('button.slot').first().click()]);
      assert.match(await visitor.locator('.summary-card').innerText(), /Erstgespräch/);
      const dieter = `dieter.${width}.${Date.now()}@example.org`;
      await visitor.fill('#up-name', 'Dieter Deutsch');
      await visitor.fill('#up-email', dieter);
      await visitor.fill('#up-password', 'patient password 12');
      await Promise.all([visitor.waitForNavigation(), visitor.click('form[action$="/signup"] button[type=submit]')]);
      await typeSignupCode(visitor, mailbox, dieter);
      await Promise.all([visitor.waitForNavigation(), visitor.click('form[action$="/signup/code"] button[type=submit]')]);
      await Promise.all([visitor.waitForURL(/booked=1/), visitor.click('form[action$="/confirm"] button[type=submit]')]);
      const id = new URL(visitor.url()).pathname.split('/').pop();
      assert.match(await visitor.locator('.summary-card').innerText(), /Erstgespräch/);
      await visit(visitor, `labels-confirmation-de-${width}`);

      // The .ics in the page's language, with the motive in it once the patient asks.
      await visitor.goto('/account');
      await visitor.check('#show_motive');
      await Promise.all([visitor.waitForNavigation(), visitor.locator('form[action="/account/preferences"] button[type=submit]').click()]);
      await visitor.goto(`/appointments/${id}`);
      const ics = await downloadIcs(visitor);
      const summary = ics.replace(/\r\n[ \t]/g, '').split('\r\n').find((l) => l.startsWith('SUMMARY:'));
      assert.equal(summary, 'SUMMARY:Termin bei Dr Paula Polyglotte – Erstgespräch');

      // The same patient on English pages gets the English label and an English file.
      const en = await browser.newContext({
        baseURL: server.url, viewport: visitor.viewportSize(), locale: 'en-GB',
        storageState: await visitor.context().storageState(),
      });
      try {
        const page = await en.newPage();
        await page.goto(`/lang/en?next=/appointments/${id}`);
        assert.match(await page.locator('.summary-card').innerText(), /First consultation/);
        const enIcs = await downloadIcs(page);
        assert.ok(enIcs.replace(/\r\n[ \t]/g, '').includes('SUMMARY:Appointment with Dr Paula Polyglotte – First consultation'), enIcs);
      } finally {
        await en.close();
      }
    } finally {
      await pro.context().close();
      await visitor.context().close();
    }
  });
}
