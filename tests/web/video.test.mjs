// A video consultation in two real browser contexts (patient and practitioner) of one
// headless chromium with a fake camera and microphone: both sign in through the pages, open
// the video page from their appointment page, the patient waits, the practitioner admits
// them, both peer connections reach `connected` and each side decodes video frames from the
// other. A second run forces relay-only ICE through a local coturn started with a shared
// secret (TURN REST API), and checks that the selected candidates are relays.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, newPage, checkA11y, shoot, consoleErrors, thirdPartyRequests } from './lib/harness.mjs';
import { launchMediaBrowser, startTurn, teleconsultation, signIn, waitForMedia } from './lib/video.mjs';

let browser;

before(async () => {
  browser = await launchMediaBrowser();
});

after(async () => {
  await browser?.close();
});

async function waitForState(page, wanted) {
  await page.waitForFunction((w) => document.getElementById('video')?.dataset.state === w, wanted, { timeout: 30_000 });
}

/** One consultation from the appointment pages to media both ways and a hang-up. */
async function consultation(server, { relay, label }) {
  const tc = await teleconsultation(server.url);
  const patient = await newPage(browser, { locale: 'fr-FR', baseURL: server.url });
  const pro = await newPage(browser, { locale: 'en-GB', baseURL: server.url });
  // The pages' warnings (signalling hiccups), printed if the test fails.
  const warnings = [];
  for (const [who, page] of [['patient', patient], ['practice', pro]]) {
    page.on('console', (m) => { if (m.type() === 'warning') warnings.push(`${who}: ${m.text()}`); });
  }
  try {
    // The patient joins from their appointment page and waits.
    await signIn(patient, tc.patient);
    await patient.goto(`/appointments/${tc.id}`);
    await Promise.all([patient.waitForURL(/\/video$/), patient.click('#join-video')]);
    await waitForState(patient, 'waiting');
    assert.match(await patient.locator('#video-status').innerText(), /salle d’attente/);
    assert.ok((await patient.locator('#camera-select option').count()) >= 2, 'the fake camera is listed');
    await checkA11y(patient, `video-patient-waiting-${label}`);
    await shoot(patient, `video-patient-waiting-${label}`);

    // The practitioner sees who is waiting and admits them.
    await signIn(pro, tc.practitioner);
    await pro.goto(`/pro/appointments/${tc.id}`);
    await Promise.all([pro.waitForURL(/\/video$/), pro.click('#join-video')]);
    await waitForState(pro, 'patient-waiting');
    assert.match(await pro.locator('#waiting-list').innerText(), /Paul Patient/);
    // The time is the place's (Europe/Paris), whatever the browser's zone: its hour is the
    // Paris hour of now or of two minutes ago (the patient arrived in between).
    const parisHour = (t) => new Date(t).toLocaleTimeString('en-GB', { hour: '2-digit', hour12: false, timeZone: 'Europe/Paris' }).slice(0, 2);
    const hours = new Set([parisHour(Date.now()), parisHour(Date.now() - 120_000)]);
    const since = await pro.locator('#waiting-since').innerText();
    assert.ok([...hours].some((h) => since.includes(`${h}:`) || since.includes(`${Number(h) % 12 || 12}:`)), `${since} in Paris time (${[...hours]})`);
    await checkA11y(pro, `video-practice-waiting-${label}`);
    await shoot(pro, `video-practice-waiting-${label}`);
    await pro.click('#admit');

    // Both connect and decode the other's video.
    const [ps, ds] = await Promise.all([waitForMedia(patient), waitForMedia(pro)]);
    for (const [who, s] of [['patient', ps], ['practice', ds]]) {
      assert.equal(s.connectionState, 'connected', who);
      assert.ok(s.framesDecoded > 0, `${who} decodes frames: ${JSON.stringify(s)}`);
      if (relay) assert.equal(s.localCandidateType, 'relay', `${who} sends through the TURN relay: ${JSON.stringify(s)}`);
    }
    await waitForState(patient, 'connected');
    await waitForState(pro, 'connected');
    await checkA11y(pro, `video-practice-connected-${label}`);
    await shoot(pro, `video-practice-connected-${label}`);
    assert.equal(await pro.locator('#rejoin').isVisible(), false);

    if (!relay) {
      // The signalling connection drops: the page reconnects with the same credential and
      // the call goes on.
      await patient.evaluate(() => window.careslotVideo.dropSignalling());
      await patient.waitForFunction(() => document.getElementById('video').dataset.joins === '2', null, { timeout: 30_000 });
      await waitForState(patient, 'connected');
      // The patient's page is reloaded (a new peer): the patient is still admitted, both
      // sides start new peer connections and media flows again.
      assert.equal(await pro.locator('#video').getAttribute('data-peers'), '1');
      await patient.reload();
      await pro.waitForFunction(() => document.getElementById('video').dataset.peers === '2', null, { timeout: 30_000 });
      const settled = await Promise.allSettled([waitForMedia(patient), waitForMedia(pro)]);
      if (settled.some((r) => r.status === 'rejected')) throw new Error(settled.map((r) => r.reason?.message || JSON.stringify(r.value)).join('\n'));
      const [again, other] = settled.map((r) => r.value);
      assert.ok(again.framesDecoded > 0 && other.framesDecoded > 0, 'media flows again after the reload');
    }

    // Mute and camera off are toggles; hang-up ends the call for both.
    await patient.click('#toggle-mic');
    assert.equal(await patient.getAttribute('#toggle-mic', 'aria-pressed'), 'true');
    await patient.click('#toggle-camera');
    assert.equal(await patient.getAttribute('#toggle-camera', 'aria-pressed'), 'true');
    await pro.click('#hangup');
    await waitForState(pro, 'ended');
    await waitForState(patient, 'ended-by-peer');
    assert.equal(await pro.locator('#rejoin').isVisible(), true);

    for (const page of [patient, pro]) {
      assert.deepEqual(thirdPartyRequests(page), []);
      assert.deepEqual(consoleErrors(page), [], `console errors on ${page.url()}`);
    }
  } catch (e) {
    e.message += `\npage warnings:\n${warnings.join('\n')}`;
    throw e;
  } finally {
    await patient.context().close();
    await pro.context().close();
  }
}

test('patient and practitioner meet by video: waiting room, admission, media both ways', async () => {
  const server = await startServer();
  try {
    await consultation(server, { relay: false, label: 'direct' });
  } finally {
    await server.stop();
  }
});

test('relay-only ICE through a local coturn with TURN REST API credentials', async () => {
  const turn = await startTurn();
  let server;
  try {
    server = await startServer({
      args: ['--turn-url', turn.url, '--turn-secret-file', turn.secretFile, '--ice-transport-policy', 'relay'],
    });
    await consultation(server, { relay: true, label: 'relay' });
  } finally {
    await server?.stop();
    await turn.stop();
  }
});

test('the video page is only for the appointment’s participants', async () => {
  const server = await startServer();
  const stranger = await newPage(browser, { locale: 'en-GB', baseURL: server.url });
  try {
    const tc = await teleconsultation(server.url);
    await signIn(stranger, (await teleconsultation(server.url)).patient);
    const res = await stranger.goto(`/appointments/${tc.id}/video`);
    assert.equal(res.status(), 404);
    assert.equal(await stranger.locator('#video').count(), 0);
  } finally {
    await stranger.context().close();
    await server.stop();
  }
});
