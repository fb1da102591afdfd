// The desk's time grid (issue 18 point 2) in the browser: the day of a practice with two
// places side by side; an appointment dragged to a free slot, the dialog (Escape cancels,
// Tab stays inside, confirming moves it); the keyboard path through "Move…" (a taken time
// refused with a message); an appointment's length through "Change length…" (keyboard) and
// its resize handle (pointer, confirmed in the dialog); the phone's one-column view; the
// printable day list; axe-core and screenshots at 390 and 1280 px.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, newPage, checkA11y, shoot, consoleErrors, apiOk, enrolMfa } from './lib/harness.mjs';

const ZONE = 'Europe/Paris';
const stamp = Date.now();
const password = 'correct horse battery';
const doctor = { email: `grid.doctor.${stamp}@example.org`, name: 'Dr Agathe Grille' };
let server;
let browser;
let day;
let cabinet;
let annexe;

const api = (method, path, body, token) => apiOk(server.url, method, path, { body, token });

async function account(who, role) {
  await api('POST', '/api/v1/accounts', { email: who.email, password, name: who.name, role });
  who.token = (await api('POST', '/api/v1/sessions', { email: who.email, password })).token;
  if (role === 'practitioner') await enrolMfa(server.url, who);
  return who.token;
}

async function agenda(token, name, city) {
  const place = await api('POST', '/api/v1/places', { name, address: '1 place du Marché', postcode: '69002', city, country: 'FR', lat: 45.76, lon: 4.83, timezone: ZONE }, token);
  const id = (await api('POST', '/api/v1/agendas', { place_id: place.id, holidays: null }, token)).id;
  const motive = (await api('POST', `/api/v1/agendas/${id}/motives`, { name: 'Consultation', duration_min: 30 }, token)).id;
  await api('POST', `/api/v1/agendas/${id}/opening-rules`, { weekdays: [1, 2, 3, 4, 5, 6, 7], start: '08:00', end: '18:00', motive_ids: [motive] }, token);
  return { id, motive };
}

/** The RFC 3339 start of `hhmm` on `day` among the agenda's slots. */
async function slotAt(a, hhmm) {
  const { slots } = await api('GET', `/api/v1/agendas/${a.id}/slots?motive_id=${a.motive}&from=${day}&to=${day}`);
  const s = slots.find((x) => x.start.startsWith(`${day}T${hhmm}`));
  assert.ok(s, `a free slot at ${hhmm}`);
  return s.start;
}

async function book(a, name, hhmm) {
  const who = { email: `grid.${name.split(' ')[0].toLowerCase()}.${stamp}@example.org`, name };
  const token = await account(who, 'patient');
  return (await api('POST', '/api/v1/appointments', { agenda_id: a.id, motive_id: a.motive, start: await slotAt(a, hhmm) }, token)).id;
}

before(async () => {
  server = await startServer({ demo: false });
  browser = await launchBrowser();
  const token = await account(doctor, 'practitioner');
  await api('PUT', '/api/v1/practitioner/profile', { name: doctor.name, specialty: 'general-practitioner' }, token);
  cabinet = await agenda(token, 'Cabinet Grille', 'Lyon');
  annexe = await agenda(token, 'Annexe Grille', 'Villeurbanne');
  // Tomorrow in the practice's zone: every time of the day is still ahead.
  day = new Date(Date.now() + 24 * 3600 * 1000).toLocaleDateString('sv-SE', { timeZone: ZONE });
  await book(cabinet, 'Paula Glisse', '10:00');
  await book(cabinet, 'Quentin Reste', '11:00');
  // The keyboard test's taken time: its own, whatever the drag-and-drop test did.
  await book(cabinet, 'Sacha Occupe', '12:00');
  await book(annexe, 'Rita Annexe', '09:00');
  await book(annexe, 'Theo Suivant', '10:00');
  await api('POST', `/api/v1/agendas/${cabinet.id}/absences`, {
    start: (await slotAt(cabinet, '16:00')), end: (await slotAt(cabinet, '17:00')), reason: 'Réunion de service',
  }, token);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A page of the practitioner's desk (the session cookie is the API token). */
async function deskPage({ width, height } = {}) {
  const page = await newPage(browser, { locale: 'en-GB', baseURL: server.url, width });
  await page.context().addCookies([{ name: 'careslot_session', value: doctor.token, url: server.url }]);
  if (height) await page.setViewportSize({ width: width ?? 1280, height });
  return page;
}

const item = (page, name) => page.locator('li.tg-item', { hasText: name });

test('the grid shows both places side by side; an appointment is dragged to a free slot and confirmed', async () => {
  const page = await deskPage({ height: 1800 });
  try {
    await page.goto(`/pro/grid?date=${day}`);
    assert.equal(await page.locator('section.tg-col').count(), 2, 'one column per place');
    assert.match(await item(page, 'Paula Glisse').textContent(), /Confirmed/);
    assert.match(await item(page, 'Rita Annexe').textContent(), /Confirmed/);
    assert.match(await page.locator('li.tg-item.absence').textContent(), /Réunion de service/);
    await checkA11y(page, 'grid-day');
    await shoot(page, 'grid-day');

    const paula = item(page, 'Paula Glisse');
    const target = page.locator(`section.tg-col:has(ol[data-agenda="${cabinet.id}"]) li.tg-item.free[data-time="14:00"]`);
    async function dragPaula() {
      const from = await paula.locator('.tg-when').boundingBox();
      const to = await target.boundingBox();
      await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
      await page.mouse.down();
      await page.mouse.move(to.x + to.width / 2, to.y + 4, { steps: 12 });
      await page.mouse.up();
    }

    // Escape cancels: nothing moves, the focus comes back to the appointment.
    await dragPaula();
    const dialog = page.locator('#grid-confirm');
    await dialog.waitFor({ state: 'visible' });
    assert.match(await page.textContent('#grid-confirm-text'), /Paula Glisse.*14:00/);
    await checkA11y(page, 'grid-confirm');
    // Tab stays in the dialog.
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press('Tab');
      assert.ok(await page.evaluate(() => document.getElementById('grid-confirm').contains(document.activeElement)), 'focus stays in the dialog');
    }
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await paula.getAttribute('data-time'), '10:00');
    assert.ok(await page.evaluate(() => document.activeElement?.classList.contains('tg-move')), 'focus back on the appointment');

    // Confirmed: moved through the move form, back on the grid at its new time.
    await dragPaula();
    await dialog.waitFor({ state: 'visible' });
    await Promise.all([page.waitForNavigation(), page.click('#grid-confirm-yes')]);
    assert.match(await page.textContent('.flash'), /moved/);
    assert.equal(await item(page, 'Paula Glisse').getAttribute('data-time'), '14:00');
    assert.deepEqual(consoleErrors(page), []);
  } finally {
    await page.context().close();
  }
});

test('the keyboard path: Move… opens a form; a taken time is refused with a message', async () => {
  const page = await deskPage();
  try {
    await page.goto(`/pro/grid?date=${day}`);
    const move = item(page, 'Quentin Reste').locator('a.tg-move');
    await move.focus();
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.match(new URL(page.url()).pathname, /^\/pro\/grid\/move\//);
    assert.equal(await page.inputValue('#move-date'), day);
    assert.equal(await page.inputValue('#move-time'), '11:00');
    await checkA11y(page, 'grid-move');
    await shoot(page, 'grid-move');

    // Onto Sacha's time here: taken.
    await page.fill('#move-time', '12:00');
    await page.focus('main form button[type=submit]');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.match(await page.textContent('#move-error'), /already taken/);
    await checkA11y(page, 'grid-move-refused');

    await page.fill('#move-time', '15:30');
    await page.focus('main form button[type=submit]');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.match(new URL(page.url()).pathname, /^\/pro\/grid$/);
    assert.equal(await item(page, 'Quentin Reste').getAttribute('data-time'), '15:30');
  } finally {
    await page.context().close();
  }
});

test('the keyboard path: Change length… opens a form; a length into the next appointment is refused', async () => {
  const page = await deskPage();
  try {
    await page.goto(`/pro/grid?date=${day}`);
    const link = item(page, 'Rita Annexe').locator('a.tg-resize-link');
    await link.focus();
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.match(new URL(page.url()).pathname, /^\/pro\/grid\/resize\//);
    assert.equal(await page.inputValue('#resize-minutes'), '30');
    await checkA11y(page, 'grid-resize');
    await shoot(page, 'grid-resize');

    // 90 minutes from 09:00 runs into Theo's 10:00: the database refuses it.
    await page.fill('#resize-minutes', '90');
    await page.focus('main form button[type=submit]');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.match(await page.textContent('#resize-error'), /already taken/);
    await checkA11y(page, 'grid-resize-refused');

    // An hour fits: back on the grid, longer.
    await page.fill('#resize-minutes', '60');
    await page.focus('main form button[type=submit]');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.match(new URL(page.url()).pathname, /^\/pro\/grid$/);
    assert.match(await page.textContent('.flash'), /length/);
    assert.equal(await item(page, 'Rita Annexe').getAttribute('data-minutes'), '60');
    assert.match(await item(page, 'Rita Annexe').locator('.tg-when').textContent(), /09:00.10:00/);
  } finally {
    await page.context().close();
  }
});

test('the resize handle: dragged to a new end, confirmed in the dialog', async () => {
  const page = await deskPage({ height: 1800 });
  try {
    await page.goto(`/pro/grid?date=${day}`);
    const theo = item(page, 'Theo Suivant');
    const handle = theo.locator('.tg-resize');
    await handle.hover();
    const from = await handle.boundingBox();
    const to = await page.locator(`section.tg-col:has(ol[data-agenda="${annexe.id}"]) li.tg-item.free[data-time="11:00"]`).boundingBox();
    await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
    await page.mouse.down();
    await page.mouse.move(from.x + from.width / 2, to.y + 1, { steps: 12 });
    await page.mouse.up();
    const dialog = page.locator('#grid-confirm');
    await dialog.waitFor({ state: 'visible' });
    assert.match(await page.textContent('#grid-confirm-h'), /length/);
    assert.match(await page.textContent('#grid-confirm-text'), /Theo Suivant.*60 minutes.*11:00/);
    await checkA11y(page, 'grid-resize-confirm');
    await Promise.all([page.waitForNavigation(), page.click('#grid-confirm-yes')]);
    assert.match(await page.textContent('.flash'), /length/);
    assert.equal(await item(page, 'Theo Suivant').getAttribute('data-minutes'), '60');
    assert.deepEqual(consoleErrors(page), []);
  } finally {
    await page.context().close();
  }
});

test('on a phone the week shows one column at a time, picked from a list', async () => {
  const page = await deskPage({ width: 390 });
  try {
    await page.goto(`/pro/grid?date=${day}&view=week`);
    const shown = () => page.locator('section.tg-col').evaluateAll((cols) => cols.filter((c) => getComputedStyle(c).display !== 'none').length);
    assert.equal(await shown(), 1, 'one column on a phone');
    const options = await page.locator('#grid-col option').count();
    assert.equal(options, 14, 'seven days of two places');
    const pick = await page.locator('#grid-col option', { hasText: 'Annexe Grille' }).nth(0).getAttribute('value');
    await page.selectOption('#grid-col', pick);
    assert.equal(await shown(), 1);
    assert.equal(await page.locator(`section.tg-col[data-col="${pick}"]`).evaluate((c) => getComputedStyle(c).display !== 'none'), true);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 400, `no sideways scrolling at 390 px (${wide})`);
    await checkA11y(page, 'grid-week-phone');
    await shoot(page, 'grid-week');
  } finally {
    await page.context().close();
  }
});

test('the printable day list: the day in time order with names and phones', async () => {
  const page = await deskPage();
  try {
    await page.goto(`/pro/grid?date=${day}`);
    await Promise.all([page.waitForNavigation(), page.click('a[href*="print=1"]')]);
    const rows = await page.locator('table.day-list tbody tr').allTextContents();
    for (const n of ['Rita Annexe', 'Paula Glisse', 'Quentin Reste', 'Sacha Occupe', 'Theo Suivant']) {
      assert.ok(rows.some((r) => r.includes(n)), `${n} listed: ${rows.join(' | ')}`);
    }
    // In time order, wherever the tests above have moved them.
    const times = await page.locator('table.day-list tbody tr td:first-child').allTextContents();
    assert.deepEqual([...times].sort(), times, 'in time order');
    await checkA11y(page, 'grid-print');
    await shoot(page, 'grid-print');
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('header.top').evaluate((h) => getComputedStyle(h).display), 'none', 'no menu on paper');
  } finally {
    await page.context().close();
  }
});
