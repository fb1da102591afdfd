// Documents on an appointment, in the browser and without JavaScript help: the patient
// uploads a PDF through the appointment page and downloads it back byte for byte; a wrong
// type and a too-large file get clear messages; the practitioner sees and downloads it on
// the desk page and adds one of their own.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startServer, launchBrowser, newPage, checkA11y, shoot, consoleErrors, thirdPartyRequests, apiOk, enrolMfa, answerSecondFactor } from './lib/harness.mjs';

const MAX = 64 * 1024; // the server runs with --document-max-bytes 65536
const stamp = Date.now();
const password = 'correct horse battery';
const patient = { email: `doc.patient.${stamp}@example.org`, name: 'Paule Papiers' };
const doctor = { email: `doc.doctor.${stamp}@example.org`, name: 'Dr Hector Archives' };
const FILE_NAME = 'Résultats d’analyse.pdf';
const PDF = Buffer.concat([
  Buffer.from('%PDF-1.7\n% Bilan sanguin de test\n'),
  Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + 7) % 256)),
  Buffer.from('\n%%EOF\n'),
]);
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(3000, 0x42)]);

let server;
let browser;
let appointment;

const api = (method, path, body, token) => apiOk(server.url, method, path, { body, token });

async function account(who, role) {
  await api('POST', '/api/v1/accounts', { email: who.email, password, name: who.name, role });
  who.token = (await api('POST', '/api/v1/sessions', { email: who.email, password })).token;
  // Practice accounts see patient data only with two-factor authentication.
  if (role === 'practitioner') await enrolMfa(server.url, who);
  return who.token;
}

before(async () => {
  server = await startServer({ demo: false, args: ['--document-max-bytes', String(MAX)] });
  browser = await launchBrowser();
  const doc = await account(doctor, 'practitioner');
  await api('PUT', '/api/v1/practitioner/profile', { name: doctor.name, specialty: 'general-practitioner' }, doc);
  const place = await api('POST', '/api/v1/places', { name: 'Cabinet Archives', address: '3 rue des Archives', postcode: '75003', city: 'Paris', country: 'FR', lat: 48.8597, lon: 2.3578, timezone: 'Europe/Paris' }, doc);
  const agenda = (await api('POST', '/api/v1/agendas', { place_id: place.id, holidays: null }, doc)).id;
  const motive = (await api('POST', `/api/v1/agendas/${agenda}/motives`, { name: 'Consultation', duration_min: 20 }, doc)).id;
  await api('POST', `/api/v1/agendas/${agenda}/opening-rules`, { weekdays: [1, 2, 3, 4, 5, 6, 7], start: '08:00', end: '18:00', motive_ids: [motive] }, doc);
  const from = new Date().toLocaleDateString('sv-SE', { timeZone: 'Europe/Paris' });
  const to = new Date(Date.now() + 7 * 24 * 3600 * 1000).toLocaleDateString('sv-SE', { timeZone: 'Europe/Paris' });
  const { slots } = await api('GET', `/api/v1/agendas/${agenda}/slots?motive_id=${motive}&from=${from}&to=${to}`);
  const pat = await account(patient, 'patient');
  appointment = (await api('POST', '/api/v1/appointments', { agenda_id: agenda, motive_id: motive, start: slots[1].start }, pat)).id;
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function signIn(page, email) {
  await page.goto('/signin');
  await page.fill('#email', email);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
  await answerSecondFactor(page, [doctor, patient].find((w) => w.email === email));
}

async function uploadFile(page, file) {
  await page.setInputFiles('#document-file', file);
  await Promise.all([page.waitForNavigation(), page.click('form.document-upload button[type=submit]')]);
}

async function downloadLink(page, name) {
  const link = page.locator('#documents .document-list a', { hasText: name });
  assert.equal(await link.count(), 1, `${name} is listed`);
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  return { name: download.suggestedFilename(), bytes: await readFile(await download.path()) };
}

test('the patient uploads a PDF on the appointment page and downloads it back', async () => {
  const page = await newPage(browser, { locale: 'fr-FR', baseURL: server.url });
  try {
    await signIn(page, patient.email);
    await page.goto(`/appointments/${appointment}`);
    assert.match(await page.locator('#documents').innerText(), /Aucun document/);
    const input = page.locator('#document-file');
    assert.equal(await input.getAttribute('accept'), '.pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png');
    await checkA11y(page, 'appointment-documents-empty');

    await uploadFile(page, { name: FILE_NAME, mimeType: 'application/pdf', buffer: PDF });
    assert.match(page.url(), /documents=uploaded/);
    assert.doesNotMatch(page.url(), /R%C3%A9sultats|Résultats/, 'the file name is never in a URL');
    assert.match(await page.locator('#documents [role=status]').innerText(), /ajouté/);
    const got = await downloadLink(page, FILE_NAME);
    assert.equal(got.name, FILE_NAME);
    assert.ok(got.bytes.equals(PDF), 'the PDF comes back byte for byte');

    // A text file renamed .pdf: refused with a clear message next to the form.
    await uploadFile(page, { name: 'notes.pdf', mimeType: 'application/pdf', buffer: Buffer.from('juste du texte') });
    assert.match(await page.locator('#documents [role=alert]').innerText(), /type de fichier n’est pas accepté/);
    // Too large.
    await uploadFile(page, { name: 'grand.png', mimeType: 'image/png', buffer: Buffer.concat([PNG, Buffer.alloc(MAX)]) });
    assert.match(await page.locator('#documents [role=alert]').innerText(), /trop volumineux/);
    assert.equal(await page.locator('#documents .document-list li').count(), 1, 'nothing was added by the refusals');

    await checkA11y(page, 'appointment-documents');
    await shoot(page, 'appointment-documents');
    assert.deepEqual(consoleErrors(page), []);
    assert.deepEqual(thirdPartyRequests(page), []);
  } finally {
    await page.context().close();
  }
});

test('the practitioner downloads it from the desk page and shares an image', async () => {
  const page = await newPage(browser, { locale: 'en-GB', baseURL: server.url });
  try {
    await signIn(page, doctor.email);
    await page.goto(`/pro/appointments/${appointment}`);
    const got = await downloadLink(page, FILE_NAME);
    assert.ok(got.bytes.equals(PDF), 'the practitioner gets the same bytes');
    const theirs = page.locator('#documents li', { hasText: FILE_NAME });
    assert.equal(await theirs.locator('button').count(), 0, 'the patient’s document is not theirs to delete');

    await uploadFile(page, { name: 'x-ray.png', mimeType: 'image/png', buffer: PNG });
    assert.match(page.url(), /\/pro\/appointments\/.*documents=uploaded/);
    assert.equal(await page.locator('#documents .document-list li').count(), 2);
    const image = await downloadLink(page, 'x-ray.png');
    assert.ok(image.bytes.equals(PNG));
    await checkA11y(page, 'desk-appointment-documents');
    await shoot(page, 'desk-appointment-documents');

    // They may delete their own.
    await Promise.all([page.waitForNavigation(), page.locator('#documents li', { hasText: 'x-ray.png' }).locator('button').click()]);
    assert.match(await page.locator('#documents [role=status]').innerText(), /deleted/);
    assert.equal(await page.locator('#documents .document-list li').count(), 1);
  } finally {
    await page.context().close();
  }
});
