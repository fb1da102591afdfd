// Mass vaccination in the browser: a patient finds a centre near a point and books dose 1
// with its dose 2 in one go; the centre changes its dose stock and availability follows.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, newPage, checkA11y, shoot, PHONE, apiOk, enrolMfa, answerSecondFactor, verifyPractitioner, operatorAccount, operatorSignIn } from './lib/harness.mjs';
import { startMailbox } from './lib/mailbox.mjs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

let server;
let browser;
let mailbox;
const stamp = Date.now();
const centre = { email: `centre.${stamp}@example.org`, password: 'centre password 1' };
let agenda;
let dose1;
const operatorToken = `operator-${stamp}-0123456789abcdef`;

const api = (method, path, body, token) => apiOk(server.url, method, path, { body, token });

function day(offset) {
  const d = new Date(Date.now() + offset * 24 * 3600 * 1000);
  return d.toLocaleDateString('sv-SE', { timeZone: 'Europe/Paris' }); // YYYY-MM-DD
}

before(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'careslot-operator-'));
  const tokenFile = path.join(dir, 'operator.token');
  writeFileSync(tokenFile, operatorToken, { mode: 0o600 });
  mailbox = await startMailbox();
  server = await startServer({ demo: false, args: ['--operator-token-file', tokenFile, ...mailbox.args] });
  browser = await launchBrowser();
  // A 2-line Comirnaty centre in Lyon, set up through the API.
  await api('POST', '/api/v1/accounts', { email: centre.email, password: centre.password, name: 'Centre Bellecour', role: 'practitioner' });
  const { token } = await api('POST', '/api/v1/sessions', { email: centre.email, password: centre.password });
  centre.token = token;
  // Practice accounts see patient data only with two-factor authentication.
  await enrolMfa(server.url, centre);
  await api('PUT', '/api/v1/practitioner/profile', { name: 'Centre de vaccination Bellecour', specialty: 'vaccination-center' }, token);
  await verifyPractitioner(server, token); // only verified practices are listed
  const place = await api('POST', '/api/v1/places', { name: 'Salle Bellecour', address: '1 place Bellecour', postcode: '69002', city: 'Lyon', country: 'FR', lat: 45.7578, lon: 4.832, timezone: 'Europe/Paris' }, token);
  agenda = (await api('POST', '/api/v1/agendas', { place_id: place.id, holidays: null }, token)).id;
  const d2 = await api('POST', `/api/v1/agendas/${agenda}/motives`, { name: 'Comirnaty – 2e dose', duration_min: 10, capacity: 2, vaccine: { product: 'comirnaty', dose: 2 } }, token);
  const d1 = await api('POST', `/api/v1/agendas/${agenda}/motives`, { name: 'Comirnaty – 1re dose', duration_min: 10, capacity: 2, vaccine: { product: 'comirnaty', dose: 1, next_dose: { motive_id: d2.id } } }, token);
  dose1 = d1.id;
  await api('POST', `/api/v1/agendas/${agenda}/opening-rules`, { weekdays: [1, 2, 3, 4, 5, 6, 7], start: '08:00', end: '18:00', motive_ids: [d1.id, d2.id] }, token);
  for (let i = 1; i <= 45; i++) await api('PUT', `/api/v1/agendas/${agenda}/stock`, { product: 'comirnaty', day: day(i), doses: 100 }, token);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  mailbox?.stop();
});

test('a patient near Lyon books dose 1 and dose 2 together', async () => {
  const page = await newPage(browser, { width: PHONE.width, locale: 'fr-FR', baseURL: server.url });
  try {
    await page.goto('/signup');
    await page.fill('#name', 'Vera Vaccin');
    await page.fill('#email', `vera.${stamp}@example.org`);
    await page.fill('#password', 'patient password 1');
    await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
    // Sign-up answers "check your mailbox" without a session (it never reveals whether the
    // address had an account), and the password opens nothing before the address is proven:
    // signing in now answers as a wrong password does.
    const vera = `vera.${stamp}@example.org`;
    await page.goto('/signin');
    await page.fill('#email', vera);
    await page.fill('#password', 'patient password 1');
    await Promise.all([page.waitForNavigation(), page.click('form[action="/signin"] button[type=submit]')]);
    assert.match(new URL(page.url()).pathname, /^\/signin/);
    assert.equal(await page.locator('p.error[role=alert]').count(), 1);
    await checkA11y(page, 'signin-before-verification');
    await shoot(page, 'signin-before-verification');
    // "Send the confirmation email again", then the newest link (the first one stops working).
    await page.fill('#resend-email', vera);
    await Promise.all([page.waitForNavigation(), page.click('form[action="/signin/verification"] button[type=submit]')]);
    assert.equal(await page.locator('#resend-h ~ p[role=status]').count(), 1);
    await page.goto(await mailbox.verificationLinkFor(vera, 2));
    await Promise.all([page.waitForNavigation(), page.click('form[action="/email-verification"] button[type=submit]')]);
    assert.equal(await page.locator('p.ok[role=status]').count(), 1, 'the address is verified');
    await page.goto('/signin');
    await page.fill('#email', vera);
    await page.fill('#password', 'patient password 1');
    await Promise.all([page.waitForNavigation(), page.click('form[action="/signin"] button[type=submit]')]);
    assert.doesNotMatch(new URL(page.url()).pathname, /^\/signin/, 'signed in once verified');

    await page.context().grantPermissions(['geolocation'], { origin: server.url });
    await page.context().setGeolocation({ latitude: 45.76, longitude: 4.84 });
    await page.goto('/');
    await page.fill('#q', 'Centre de vaccination');
    await Promise.all([page.waitForURL(/\/search\?/), page.click('[data-near-me]')]);
    const result = page.locator(`li.result[data-agenda="${agenda}"]`);
    assert.equal(await result.count(), 1, 'the centre is found near the point');
    // The card's second time, not its first: the series is booked without a hold, and the
    // soonest time can pass before the second dose is chosen. Not a later day's either: the
    // next test closes day(3)'s stock, which a dose booked there would refuse.
    await Promise.all([page.waitForURL(/\/vaccination\/second-dose\?/), result.locator('button.slot').nth(1).click()]);
    await checkA11y(page, 'vaccination-second-dose');
    await shoot(page, 'vaccination-second-dose');
    assert.match(await page.locator('main').innerText(), /21.*42/);
    await Promise.all([page.waitForURL(/booked=1/), page.locator('button.slot').first().click()]);
    assert.equal(await page.locator('h1.ok').count(), 1);
    assert.equal(await page.locator('.series').count(), 1, 'the second dose is shown with the first');
    await checkA11y(page, 'vaccination-booked');
    await shoot(page, 'vaccination-booked');
    await page.goto('/appointments');
    assert.equal(await page.locator('section[aria-labelledby=up-h] [data-appointment]').count(), 2, 'both doses are booked');
  } finally {
    await page.context().close();
  }
});

test("the centre changes a day's stock and availability follows at once", async () => {
  const page = await newPage(browser, { locale: 'fr-FR', baseURL: server.url });
  const target = day(3);
  const slotsThatDay = async () => {
    const res = await page.request.get(`/api/v1/agendas/${agenda}/slots?motive_id=${dose1}&from=${target}&to=${target}`);
    return (await res.json()).slots.length;
  };
  try {
    await page.goto('/signin');
    await page.fill('#email', centre.email);
    await page.fill('#password', centre.password);
    await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
    await answerSecondFactor(page, centre);
    // The week editor: the week of the target day, one form for the whole week.
    await page.goto(`/pro/stock?week=${target}`);
    await checkA11y(page, 'stock');
    await shoot(page, 'stock');
    assert.ok((await slotsThatDay()) > 0);

    const input = page.locator(`[data-stock="d:comirnaty:${target}"]`);
    await input.fill('0');
    await Promise.all([page.waitForNavigation(), page.click('[data-week-save]')]);
    assert.equal(await slotsThatDay(), 0, 'no dose, no slot');
    await page.goto(`/p/${agenda}?motive=${dose1}&week=${target}`);
    assert.equal(await page.locator('.day').first().locator('button.slot').count(), 0, 'the public page follows');

    await page.goto(`/pro/stock?week=${target}`);
    await page.locator(`[data-stock="d:comirnaty:${target}"]`).fill('50');
    await Promise.all([page.waitForNavigation(), page.click('[data-week-save]')]);
    assert.ok((await slotsThatDay()) > 0, 'doses back, slots back');

    // At 390 px the week editor fits: no horizontal scrolling of the page.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`/pro/stock?week=${target}`);
    await checkA11y(page, 'stock-390');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no page overflow at 390 px');
    await page.setViewportSize({ width: 1280, height: 900 });

    // A default policy: a day left empty offers the policy's doses.
    await page.goto(`/pro/stock?week=${target}`);
    await page.locator('[data-policy="comirnaty"]').fill('30');
    await Promise.all([page.waitForNavigation(), page.click('[data-policy-save]')]);
    assert.equal(await page.locator(`[data-stock="d:comirnaty:${target}"]`).getAttribute('placeholder'), '30');

    // Two more lines that day: every time of that day offers four places.
    await page.goto('/pro/stock');
    const lines = page.locator(`[data-lines="${target}"]`);
    await lines.fill('4');
    await Promise.all([page.waitForNavigation(), lines.locator('xpath=..').locator('button').click()]);
    const res = await page.request.get(`/api/v1/agendas/${agenda}/slots?motive_id=${dose1}&from=${target}&to=${target}`);
    const remaining = (await res.json()).slots.map((s) => s.remaining);
    assert.ok(remaining.length > 0 && remaining.every((r) => r === 4), `remaining: ${remaining}`);
  } finally {
    await page.context().close();
  }
});

test('the campaign operator opens a phase from the console', async () => {
  const page = await newPage(browser, { locale: 'en-GB', baseURL: server.url });
  try {
    // The console has no token form: it leads to the normal sign-in.
    await page.goto('/operator');
    await checkA11y(page, 'operator-signin');
    assert.equal(await page.locator('#token').count(), 0, 'no token sign-in form');
    const who = await operatorAccount({ url: server.url, operatorToken }, ['campaign'], 'Camille Campagne');
    await operatorSignIn(page, who);
    assert.equal(await page.locator('#centres').innerText(), '1');
    await page.fill('#ph-name', 'Phase 1 — 75+');
    await page.fill('#ph-age', '75');
    await page.fill('#ph-groups', 'health-professional');
    await Promise.all([page.waitForNavigation(), page.click('form[action="/operator/phases"] button[type=submit]')]);
    assert.match(await page.locator('section[aria-labelledby=ph-h]').innerText(), /Phase 1/);
    await checkA11y(page, 'operator');
    await shoot(page, 'operator');
    const res = await page.request.get('/api/v1/vaccination/eligibility');
    assert.equal((await res.json()).open_phases.length, 2);
  } finally {
    await page.context().close();
  }
});
