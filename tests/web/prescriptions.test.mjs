// E-prescriptions in the browser: the practitioner signs one from the desk appointment page
// (adding a second medication line with the script), the patient sees it with its PDF, and
// a pharmacist without an account opens the QR code's URL, sees it is authentic, marks it
// dispensed once, and opening the URL again shows it already dispensed.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, newPage, checkA11y, shoot, callApi, enrolMfa, answerSecondFactor, verifyPractitioner } from './lib/harness.mjs';

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

const api = (method, path, token, body) => callApi(server.url, method, path, { token, body });

let accounts = 0;
async function account(role, name) {
  // Unique per call: several tests make an account of the same name.
  accounts += 1;
  const email = `${name.toLowerCase().replace(/[^a-z]+/g, '.')}.${stamp}.${accounts}@example.org`;
  const created = await api('POST', '/api/v1/accounts', null, { email, password, name, role });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const session = await api('POST', '/api/v1/sessions', null, { email, password });
  assert.equal(session.status, 201);
  const who = { email, token: session.body.token };
  // Practice accounts see patient data only with two-factor authentication.
  if (role === 'practitioner') await enrolMfa(server.url, who);
  return who;
}

/// A practitioner open every day (verified by the operator unless `verified` is false), and
/// a patient booked with them.
async function appointment({ verified = true } = {}) {
  const doctor = await account('practitioner', 'Dr Hélène Ordonnance');
  const t = doctor.token;
  assert.equal((await api('PUT', '/api/v1/practitioner/profile', t, { name: 'Dr Hélène Ordonnance', specialty: 'general-practitioner' })).status, 200);
  if (verified) await verifyPractitioner(server, t);
  const place = await api('POST', '/api/v1/places', t, {
    name: 'Cabinet Ordonnance', address: '3 rue des Lilas', postcode: '69003', city: 'Lyon', country: 'FR',
    lat: 45.76, lon: 4.85, timezone: 'Europe/Paris',
  });
  const agenda = await api('POST', '/api/v1/agendas', t, { place_id: place.body.id, holidays: null });
  const motive = await api('POST', `/api/v1/agendas/${agenda.body.id}/motives`, t, { name: 'Consultation', duration_min: 30 });
  await api('POST', `/api/v1/agendas/${agenda.body.id}/opening-rules`, t, {
    weekdays: [1, 2, 3, 4, 5, 6, 7], start: '08:00', end: '18:00', motive_ids: [motive.body.id],
  });
  const today = new Date();
  const from = today.toISOString().slice(0, 10);
  const to = new Date(today.getTime() + 6 * 86400e3).toISOString().slice(0, 10);
  const slots = await api('GET', `/api/v1/agendas/${agenda.body.id}/slots?motive_id=${motive.body.id}&from=${from}&to=${to}`);
  const patient = await account('patient', 'Noémie Patiente');
  const booked = await api('POST', '/api/v1/appointments', patient.token, {
    agenda_id: agenda.body.id, motive_id: motive.body.id, start: slots.body.slots[0].start,
  });
  assert.equal(booked.status, 201, JSON.stringify(booked.body));
  return { doctor, patient, id: booked.body.id };
}

async function signIn(page, who) {
  await page.goto('/signin');
  await page.fill('#email', who.email);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
  await answerSecondFactor(page, who);
}

test('a practitioner signs a prescription, the patient downloads it, a pharmacist verifies and dispenses it once', async () => {
  const { doctor, patient, id } = await appointment();

  // The practitioner's form: one line without script, a second one added by it.
  const desk = await newPage(browser, { locale: 'fr-FR', baseURL: server.url });
  try {
    await signIn(desk, doctor);
    await desk.goto(`/pro/appointments/${id}`);
    await desk.fill('#rx-name-1', 'Ibuprofène 400 mg');
    await desk.fill('#rx-dosage-1', '1 comprimé matin et soir');
    await desk.fill('#rx-duration-1', '5 jours');
    await desk.click('#rx-add');
    await desk.fill('#rx-name-2', 'Sérum physiologique');
    await desk.fill('#rx-dosage-2', 'lavage de nez 3 fois par jour');
    await desk.fill('#rx-duration-2', '10 jours');
    await desk.fill('#rx-instructions', 'Reconsulter si la fièvre persiste.');
    await checkA11y(desk, 'desk-prescription-form');
    await shoot(desk, 'desk-prescription-form');
    await Promise.all([desk.waitForNavigation(), desk.click('form.rx-form button[type=submit]')]);
    const item = desk.locator('#prescriptions .rx-list li');
    assert.equal(await item.count(), 1);
    assert.match(await item.innerText(), /Ibuprofène 400 mg, Sérum physiologique/);
    const pdfUrl = await item.locator('a').getAttribute('href');
    const pdf = await desk.request.get(pdfUrl);
    assert.equal(pdf.status(), 200);
    assert.equal(pdf.headers()['content-type'], 'application/pdf');
  } finally {
    await desk.close();
  }

  // The patient sees it on their appointment page, with the PDF.
  const mine = await newPage(browser, { locale: 'fr-FR', baseURL: server.url });
  try {
    await signIn(mine, patient);
    await mine.goto(`/appointments/${id}`);
    const link = mine.locator('#prescriptions a.button');
    assert.equal(await link.count(), 1);
    const pdf = await mine.request.get(await link.getAttribute('href'));
    assert.equal(pdf.status(), 200);
    assert.ok((await pdf.body()).subarray(0, 5).toString() === '%PDF-');
    await checkA11y(mine, 'patient-prescriptions');
  } finally {
    await mine.close();
  }

  // The QR code's URL (what the PDF encodes; the HTTP tests decode it from the PDF).
  const listed = await api('GET', `/api/v1/appointments/${id}/prescriptions`, patient.token);
  const url = listed.body.prescriptions[0].verification_url;
  assert.ok(url.startsWith(`${server.url}/rx/`), url);

  // The pharmacist: no account, a fresh browser context.
  const pharmacy = await newPage(browser, { locale: 'fr-FR' });
  try {
    await pharmacy.goto(url);
    await pharmacy.waitForSelector('.rx-verdict');
    assert.equal(await pharmacy.locator('.rx-verdict').getAttribute('data-authentic'), 'true');
    assert.match(await pharmacy.locator('.rx-verdict h2').innerText(), /Authentique — signée par Dr Hélène Ordonnance le/);
    assert.match(await pharmacy.locator('.rx-meds').innerText(), /Ibuprofène 400 mg/);
    assert.ok(!pharmacy.url().includes('#'), 'the capability left the address bar');
    await checkA11y(pharmacy, 'pharmacist-verify');
    await shoot(pharmacy, 'pharmacist-verify');
    await Promise.all([pharmacy.waitForNavigation(), pharmacy.click('form[action$="/dispense"] button')]);
    assert.match(await pharmacy.locator('[role=status]').first().innerText(), /délivrée/);
    assert.match(await pharmacy.locator('.rx-dispense-status').innerText(), /Déjà délivrée le/);
    assert.equal(await pharmacy.locator('form[action$="/dispense"]').count(), 0);

    // Opening the QR code again: dispensed, and no button to dispense twice.
    await pharmacy.goto(url);
    await pharmacy.waitForSelector('.rx-verdict');
    assert.match(await pharmacy.locator('.rx-dispense-status').innerText(), /Déjà délivrée le/);
    assert.equal(await pharmacy.locator('form[action$="/dispense"]').count(), 0);
    await checkA11y(pharmacy, 'pharmacist-dispensed');
    await shoot(pharmacy, 'pharmacist-dispensed');
  } finally {
    await pharmacy.close();
  }
});

test('an unverified practitioner is told how to get verified; a revoked prescriber is flagged to the pharmacist', async () => {
  const { doctor, id } = await appointment({ verified: false });
  const desk = await newPage(browser, { locale: 'fr-FR', baseURL: server.url });
  try {
    await signIn(desk, doctor);
    await desk.goto(`/pro/appointments/${id}`);
    assert.equal(await desk.locator('form.rx-form').count(), 0, 'no signing form');
    const note = desk.locator('#prescriptions .rx-not-verified');
    assert.match(await note.innerText(), /identifiant professionnel vérifié/);
    assert.equal(await note.locator('a').getAttribute('href'), '/pro/verification');
    await checkA11y(desk, 'desk-prescription-not-verified');
    await shoot(desk, 'desk-prescription-not-verified');
    const refused = await api('POST', `/api/v1/appointments/${id}/prescriptions`, doctor.token, {
      medications: [{ name: 'Morphine 10 mg', dosage: '1 par jour', duration: '3 jours' }],
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.type, 'https://careslot.eu/problems/practitioner-not-verified');

    await verifyPractitioner(server, doctor.token);
    await desk.goto(`/pro/appointments/${id}`);
    assert.equal(await desk.locator('form.rx-form').count(), 1, 'verified: the form is back');
  } finally {
    await desk.close();
  }
  const signed = await api('POST', `/api/v1/appointments/${id}/prescriptions`, doctor.token, {
    medications: [{ name: 'Amoxicilline 1 g', dosage: '1 matin et soir', duration: '6 jours' }],
  });
  assert.equal(signed.status, 201, JSON.stringify(signed.body));
  const profile = await api('GET', '/api/v1/practitioner/profile', doctor.token);
  const revoked = await callApi(server.url, 'POST', `/api/v1/operator/practitioners/${profile.body.id}/revoke`, {
    token: server.operatorToken, body: { reason: 'radié par l’Ordre' },
  });
  assert.equal(revoked.status, 200, JSON.stringify(revoked.body));

  const pharmacy = await newPage(browser, { locale: 'fr-FR' });
  try {
    await pharmacy.goto(signed.body.verification_url);
    await pharmacy.waitForSelector('.rx-verdict');
    const warning = pharmacy.locator('.rx-prescriber-warning');
    assert.equal(await warning.getAttribute('data-prescriber'), 'revoked');
    assert.equal(await warning.getAttribute('role'), 'alert');
    assert.match(await warning.innerText(), /révoquée le/);
    assert.equal(await pharmacy.locator('#prescriber-id').count(), 0, 'no identifier vouched for');
    await checkA11y(pharmacy, 'pharmacist-revoked-prescriber');
    await shoot(pharmacy, 'pharmacist-revoked-prescriber');
  } finally {
    await pharmacy.close();
  }
});

test('a wrong code shows no prescription', async () => {
  const page = await newPage(browser, { locale: 'en-GB', baseURL: server.url });
  try {
    await page.goto('/rx/0190a0b0-0000-7000-8000-000000000000#AAAAAAAAAAAAAAAAAAAAAA');
    await page.waitForSelector('[role=alert]');
    assert.match(await page.locator('[role=alert]').innerText(), /No prescription matches this code/);
    await checkA11y(page, 'pharmacist-not-found');
  } finally {
    await page.close();
  }
});
