// The waiting room in the browser: with the room switched on, choosing a slot leads to the
// queue page, which shows the visitor's place and estimated wait, updates itself, and sends
// them back to the practitioner's page once admitted; from there the slot is held.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, newPage, checkA11y, shoot, consoleErrors, thirdPartyRequests, apiOk } from './lib/harness.mjs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

let server;
let browser;
let agenda;
const stamp = Date.now();
const operatorToken = `operator-${stamp}-0123456789abcdef`;

const api = (method, path, body, token) => apiOk(server.url, method, path, { body, token });

before(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'careslot-queue-'));
  const tokenFile = path.join(dir, 'operator.token');
  writeFileSync(tokenFile, operatorToken, { mode: 0o600 });
  // One person a second: a short queue takes a few seconds.
  server = await startServer({ args: ['--operator-token-file', tokenFile, '--waiting-room-rate', '1'] });
  browser = await launchBrowser();
  const email = `gp.${stamp}@example.org`;
  await api('POST', '/api/v1/accounts', { email, password: 'practice password 1', name: 'Dr Lina File', role: 'practitioner' });
  const { token } = await api('POST', '/api/v1/sessions', { email, password: 'practice password 1' });
  await api('PUT', '/api/v1/practitioner/profile', { name: 'Dr Lina File', specialty: 'general-practitioner' }, token);
  const place = await api('POST', '/api/v1/places', { name: 'Cabinet', address: '12 rue de Rivoli', postcode: '75004', city: 'Paris', country: 'FR', lat: 48.8556, lon: 2.359, timezone: 'Europe/Paris' }, token);
  agenda = (await api('POST', '/api/v1/agendas', { place_id: place.id, holidays: null }, token)).id;
  const motive = await api('POST', `/api/v1/agendas/${agenda}/motives`, { name: 'Consultation', duration_min: 15 }, token);
  await api('POST', `/api/v1/agendas/${agenda}/opening-rules`, { weekdays: [1, 2, 3, 4, 5, 6, 7], start: '08:00', end: '18:00', motive_ids: [motive.id] }, token);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the queue page shows the place, updates itself and returns to the booking page', async () => {
  const state = await api('PUT', '/api/v1/operator/waiting-room', { enabled: true }, operatorToken);
  assert.equal(state.active, true);
  // Six people queue ahead through the API.
  for (let i = 0; i < 6; i++) await api('POST', '/api/v1/queue/tickets');

  const page = await newPage(browser, { locale: 'en-GB', baseURL: server.url });
  try {
    await page.goto(`/p/${agenda}`);
    const back = new URL(page.url()).pathname;
    await Promise.all([page.waitForURL(/\/queue\?next=/), page.locator('form[action="/book/hold"] button.slot').first().click()]);
    assert.equal(new URL(page.url()).searchParams.get('next').split('?')[0], back, 'next is the page the visitor came from');
    assert.match(await page.locator('h1').innerText(), /You are in the queue/);
    const position = page.locator('[data-queue-position]');
    const first = Number(await position.innerText());
    assert.ok(first >= 1, `a place in the queue: ${first}`);
    assert.match(await page.locator('[data-queue-eta]').innerText(), /min/);
    assert.match(await page.content(), /<noscript><meta http-equiv="refresh" content="\d+"><\/noscript>/, 'a refresh without JavaScript');
    const ticket = (await page.context().cookies()).find((c) => c.name === 'careslot_queue');
    assert.ok(ticket && ticket.httpOnly && ticket.sameSite === 'Lax', `ticket cookie: ${JSON.stringify(ticket)}`);
    await checkA11y(page, 'queue');
    await shoot(page, 'queue');

    // The place goes down without reloading the page…
    await page.waitForFunction(
      (before) => {
        const el = document.querySelector('[data-queue-position]');
        return !el || Number(el.textContent) < before;
      },
      first,
      { timeout: 30_000 },
    );
    // …and once admitted, the visitor is back on the practitioner's page.
    await page.waitForURL((u) => u.pathname === back, { timeout: 30_000 });
    assert.match(await page.locator('.flash').innerText(), /your turn/);
    await checkA11y(page, 'queue-admitted');
    await Promise.all([page.waitForURL(/\/book\/[^/]+$/), page.locator('form[action="/book/hold"] button.slot').first().click()]);
    assert.equal(await page.locator('[data-expires]').count(), 1, 'the slot is held, with its countdown');

    assert.deepEqual(consoleErrors(page), []);
    assert.deepEqual(thirdPartyRequests(page), []);
  } finally {
    await page.context().close();
    await api('PUT', '/api/v1/operator/waiting-room', { enabled: false }, operatorToken);
  }
});
