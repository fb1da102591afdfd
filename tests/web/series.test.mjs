// Recurring care (issue 18 point 5) in the browser: from the desk's phone-booking page, a
// weekly series whose second date is taken; the preview marks that date and nothing can be
// booked until it is skipped; skipped, the series books at once and the first appointment's
// page says "part of a series (1 of 3)" with links to the others; the grid shows the
// occurrences; "cancel this one and all following" states what it does before it is
// confirmed and leaves the earlier one booked. At 390 and 1280 px, axe-core on every page.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, newPage, checkA11y, shoot, consoleErrors, apiOk, enrolMfa } from './lib/harness.mjs';

const ZONE = 'Europe/Paris';
const stamp = Date.now();
const password = 'correct horse battery';
const doctor = { email: `series.doctor.${stamp}@example.org`, name: 'Dr Kinésithérapie Série' };
let server;
let browser;
let cabinet;

const api = (method, path, body, token) => apiOk(server.url, method, path, { body, token });

async function account(who, role) {
  await api('POST', '/api/v1/accounts', { email: who.email, password, name: who.name, role });
  who.token = (await api('POST', '/api/v1/sessions', { email: who.email, password })).token;
  if (role === 'practitioner') await enrolMfa(server.url, who);
  return who.token;
}

/** The local date `days` from today in the practice's zone. */
function dayIn(days) {
  return new Date(Date.now() + days * 24 * 3600 * 1000).toLocaleDateString('sv-SE', { timeZone: ZONE });
}

/** The RFC 3339 start of `hhmm` on `day` among the agenda's slots. */
async function slotAt(day, hhmm) {
  const { slots } = await api('GET', `/api/v1/agendas/${cabinet.id}/slots?motive_id=${cabinet.motive}&from=${day}&to=${day}`);
  const s = slots.find((x) => x.start.startsWith(`${day}T${hhmm}`));
  assert.ok(s, `a free slot at ${hhmm} on ${day}`);
  return s.start;
}

before(async () => {
  server = await startServer({ demo: false });
  browser = await launchBrowser();
  const token = await account(doctor, 'practitioner');
  await api('PUT', '/api/v1/practitioner/profile', { name: doctor.name, specialty: 'general-practitioner' }, token);
  const place = await api('POST', '/api/v1/places', { name: 'Cabinet Série', address: '3 rue des Séries', postcode: '69003', city: 'Lyon', country: 'FR', lat: 45.76, lon: 4.84, timezone: ZONE }, token);
  const id = (await api('POST', '/api/v1/agendas', { place_id: place.id, holidays: null }, token)).id;
  const motive = (await api('POST', `/api/v1/agendas/${id}/motives`, { name: 'Rééducation', duration_min: 30 }, token)).id;
  await api('POST', `/api/v1/agendas/${id}/opening-rules`, { weekdays: [1, 2, 3, 4, 5, 6, 7], start: '08:00', end: '18:00', motive_ids: [motive] }, token);
  cabinet = { id, motive };
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function deskPage(width) {
  const page = await newPage(browser, { locale: 'en-GB', baseURL: server.url, width });
  await page.context().addCookies([{ name: 'careslot_session', value: doctor.token, url: server.url }]);
  return page;
}

for (const [width, hhmm, patient] of [[1280, '10:00', 'Lucie Reeducation'], [390, '14:00', 'Marc Genou']]) {
  test(`a weekly series with a taken date, skipped, booked, then cancelled from the second (${width} px)`, async () => {
    const first = dayIn(2);
    const second = dayIn(9);
    const start = await slotAt(first, hhmm);
    // Someone else has the second week's time.
    const other = { email: `series.other.${width}.${stamp}@example.org`, name: `Autre ${width}` };
    const otherToken = await account(other, 'patient');
    await api('POST', '/api/v1/appointments', { agenda_id: cabinet.id, motive_id: cabinet.motive, start: await slotAt(second, hhmm) }, otherToken);

    const page = await deskPage(width);
    try {
      await page.goto(`/pro/agenda/book?agenda=${cabinet.id}&motive=${cabinet.motive}&start=${encodeURIComponent(start)}`);
      await page.click('#repeat summary');
      assert.ok(await page.isChecked('#repeat-form input[name="weekdays"]:checked'), "the first date's weekday is ticked");
      await page.fill('#count', '4');
      await Promise.all([page.waitForNavigation(), page.click('#series-show')]);

      // The preview: four dates, the second taken, nothing bookable as it stands.
      assert.equal(await page.locator('li.series-date').count(), 4);
      const taken = page.locator('li.series-date.state-taken');
      assert.equal(await taken.count(), 1);
      assert.match(await taken.textContent(), /already taken/);
      assert.match(await page.textContent('#series-conflicts'), /1 dates are not free/);
      await checkA11y(page, `series-preview-${width}`);
      await shoot(page, `series-preview-${width}`);

      // A booking attempt as it stands books nothing.
      await page.fill('#patient_name', patient);
      await page.fill('#patient_phone', '06 12 34 56 78');
      await Promise.all([page.waitForNavigation(), page.click('#new-patient button[type="submit"]')]);
      assert.match(await page.textContent('p.error[role="alert"]'), /nothing was booked/);

      // Skipped explicitly: three appointments will be booked.
      await page.check(`#skip-${second}`);
      await Promise.all([page.waitForNavigation(), page.click('#series-update')]);
      assert.equal(await page.locator('li.series-date.state-skipped').count(), 1);
      assert.match(await page.textContent('#series-ready'), /3 appointments/);
      await page.fill('#patient_name', patient);
      await page.fill('#patient_phone', '06 12 34 56 78');
      await Promise.all([page.waitForNavigation(), page.click('#new-patient button[type="submit"]')]);

      // The first appointment's page: its place in the series, links to the others.
      assert.match(await page.textContent('.flash'), /series of appointments is booked/);
      assert.match(await page.textContent('#series-h'), /Part of a series \(1 of 3\)/);
      assert.equal(await page.locator('ol.series-list li').count(), 3);
      await checkA11y(page, `series-appointment-${width}`);
      await shoot(page, `series-appointment-${width}`);

      // The grid of the first day shows it.
      await page.goto(`/pro/grid?date=${first}`);
      assert.match(await page.locator('li.tg-item', { hasText: patient }).textContent(), new RegExp(hhmm));
      await page.goBack();

      // The second one of the series: cancel it and all following, as stated first.
      await Promise.all([page.waitForNavigation(), page.click('ol.series-list li:nth-child(2) a')]);
      assert.match(await page.textContent('#series-h'), /2 of 3/);
      await page.click('#cancel-following summary');
      assert.match(await page.textContent('#cancel-following p'), /This cancels 2 appointments/);
      assert.match(await page.textContent('#cancel-following p'), /Earlier appointments stay booked/);
      await checkA11y(page, `series-cancel-${width}`);
      await shoot(page, `series-cancel-${width}`);
      await Promise.all([page.waitForNavigation(), page.click('#cancel-following button[type="submit"]')]);
      assert.match(await page.textContent('.flash'), /following appointments of the series are cancelled/);
      const rows = await page.locator('ol.series-list li').allTextContents();
      assert.equal(rows.length, 3);
      assert.doesNotMatch(rows[0], /Cancelled/i, 'the first one stays booked');
      assert.match(rows[1], /Cancelled/i);
      assert.match(rows[2], /Cancelled/i);
      assert.equal(await page.locator('#cancel-following').count(), 0, 'nothing left to cancel from here');
      assert.deepEqual(consoleErrors(page), []);
    } finally {
      await page.context().close();
    }
  });
}

for (const [width, hhmm, patient] of [[1280, '11:00', 'Paul Epaule'], [390, '15:00', 'Rita Hanche']]) {
  test(`a series moved a day later as stated, then refused outside the hours (${width} px)`, async () => {
    const first = dayIn(3);
    const start = await slotAt(first, hhmm);
    const page = await deskPage(width);
    try {
      await page.goto(`/pro/agenda/book?agenda=${cabinet.id}&motive=${cabinet.motive}&start=${encodeURIComponent(start)}`);
      await page.click('#repeat summary');
      await page.fill('#count', '2');
      await Promise.all([page.waitForNavigation(), page.click('#series-show')]);
      await page.fill('#patient_name', patient);
      await page.fill('#patient_phone', '06 12 34 56 78');
      await Promise.all([page.waitForNavigation(), page.click('#new-patient button[type="submit"]')]);
      assert.match(await page.textContent('#series-h'), /1 of 2/);
      const before = await page.locator('ol.series-list li').allTextContents();

      // Stated before it is confirmed: how many move, all together, one message.
      await page.click('#move-following summary');
      const what = await page.textContent('#move-following p');
      assert.match(what, /This moves 2 appointments/);
      assert.match(what, /nothing moves/);
      await checkA11y(page, `series-move-${width}`);
      await shoot(page, `series-move-${width}`);
      await page.fill('#move-days', '1');
      await Promise.all([page.waitForNavigation(), page.click('#move-following button[type="submit"]')]);
      assert.match(await page.textContent('.flash'), /appointments of the series are moved/);
      const after = await page.locator('ol.series-list li').allTextContents();
      assert.equal(after.length, 2);
      assert.notDeepEqual(after, before, 'the dates changed');
      assert.ok(after.every((r) => r.includes(hhmm)), 'each keeps its time');

      // After the opening hours: nothing moves, and the page names each refused time.
      await page.click('#move-following summary');
      await page.fill('#move-time', '19:00');
      await Promise.all([page.waitForNavigation(), page.click('#move-following button[type="submit"]')]);
      assert.equal(await page.locator('#move-conflicts li').count(), 2);
      assert.match(await page.textContent('#move-conflicts'), /Nothing was moved/);
      assert.deepEqual(await page.locator('ol.series-list li').allTextContents(), after);
      await checkA11y(page, `series-move-refused-${width}`);
      assert.deepEqual(consoleErrors(page), []);
    } finally {
      await page.context().close();
    }
  });
}
