// Teleconsultation fees on the pages (pay at the practice, the default): the practitioner
// sets a fee on a video motive in the settings, the patient sees it when booking and on
// the appointment, and the practice cancels the appointment from its page.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, newPage, checkA11y, shoot, thirdPartyRequests, callApi, enrolMfa, answerSecondFactor } from './lib/harness.mjs';

let server;
let browser;
const stamp = Date.now();
const password = 'correct horse battery';

before(async () => {
  server = await startServer({ demo: false });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const api = (method, path, body, token) => callApi(server.url, method, path, { body, token });

/** Accounts made here, by email (with their two-factor secret when they have one). */
const accounts = new Map();

async function account(role, name, email) {
  let r = await api('POST', '/api/v1/accounts', { email, password, name, role });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  r = await api('POST', '/api/v1/sessions', { email, password });
  assert.equal(r.status, 201);
  const who = { email, token: r.body.token };
  // Practice accounts see patient data only with two-factor authentication.
  if (role === 'practitioner') await enrolMfa(server.url, who);
  accounts.set(email, who);
  return r.body.token;
}

async function signIn(page, email) {
  await page.goto('/signin');
  await page.fill('#email', email);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
  await answerSecondFactor(page, accounts.get(email) ?? { email });
}

async function submit(page, selector) {
  await Promise.all([page.waitForLoadState('load'), page.waitForNavigation(), page.click(selector)]);
}

test('a fee set in the settings is shown when booking, and the practice cancels', async () => {
  // A practitioner with a video motive, open every day (set up through the API).
  const proEmail = `video.${stamp}@example.org`;
  const pro = await account('practitioner', 'Dr Vidéo Paiement', proEmail);
  let r = await api('PUT', '/api/v1/practitioner/profile', { name: 'Dr Vidéo Paiement', specialty: 'general-practitioner' }, pro);
  assert.equal(r.status, 200);
  r = await api('POST', '/api/v1/places', { name: 'Cabinet', address: '1 rue de la Paix', postcode: '75002', city: 'Paris', country: 'FR', lat: 48.8686, lon: 2.3314, timezone: 'Europe/Paris' }, pro);
  assert.equal(r.status, 201);
  r = await api('POST', '/api/v1/agendas', { place_id: r.body.id, holidays: null }, pro);
  const agenda = r.body.id;
  r = await api('POST', `/api/v1/agendas/${agenda}/motives`, { name: 'Téléconsultation', duration_min: 15, teleconsultation: true }, pro);
  const motive = r.body.id;
  r = await api('POST', `/api/v1/agendas/${agenda}/opening-rules`, { weekdays: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '23:45', motive_ids: [motive] }, pro);
  assert.equal(r.status, 201, JSON.stringify(r.body));

  const doc = await newPage(browser, { locale: 'fr-FR', baseURL: server.url });
  const patient = await newPage(browser, { locale: 'fr-FR', baseURL: server.url });
  try {
    // The fee, in euros, on the video motive.
    await signIn(doc, proEmail);
    await doc.goto('/pro/settings');
    await doc.fill(`#fee-${motive}`, '25,50');
    await submit(doc, `form[action="/pro/settings/motives/${motive}"] button[type=submit]`);
    assert.equal(await doc.inputValue(`#fee-${motive}`), '25.50');
    await checkA11y(doc, 'settings-fee');
    await shoot(doc, 'settings-fee');
    r = await api('GET', `/api/v1/agendas/${agenda}`);
    assert.deepEqual(r.body.motives[0].fee, { amount_cents: 2550, currency: 'EUR' });

    // The patient sees it on the booking page and on the appointment.
    const patientEmail = `patient.${stamp}@example.org`;
    await account('patient', 'Léa Patiente', patientEmail);
    await signIn(patient, patientEmail);
    await patient.goto(`/p/${agenda}`);
    await Promise.all([patient.waitForURL(/\/book\//), patient.locator('button.slot').first().click()]);
    const fee = await patient.locator('#fee-notice').innerText();
    assert.match(fee, /25,50\s€/);
    assert.match(fee, /au cabinet/);
    await checkA11y(patient, 'book-fee');
    await shoot(patient, 'book-fee');
    await Promise.all([patient.waitForURL(/booked=1/), patient.click('form[action$="/confirm"] button[type=submit]')]);
    const id = new URL(patient.url()).pathname.split('/').pop();
    assert.match(await patient.locator('p.payment').innerText(), /25,50\s€.*à régler au cabinet/);
    await checkA11y(patient, 'appointment-fee');

    // The practice sees the payment and cancels.
    await doc.goto(`/pro/appointments/${id}`);
    assert.match(await doc.locator('p.payment').innerText(), /à régler au cabinet/);
    await checkA11y(doc, 'desk-appointment-fee');
    await shoot(doc, 'desk-appointment-fee');
    await submit(doc, `form[action="/pro/appointments/${id}/cancel"] button[type=submit]`);
    assert.equal(await doc.locator(`form[action="/pro/appointments/${id}/cancel"]`).count(), 0);
    await patient.goto(`/appointments/${id}`);
    assert.match(await patient.locator('p.status').innerText(), /annul/i);
    assert.deepEqual(thirdPartyRequests(doc), []);
    assert.deepEqual(thirdPartyRequests(patient), []);
  } finally {
    await doc.context().close();
    await patient.context().close();
  }
});
