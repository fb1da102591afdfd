// A video consultation in two real browser contexts (patient and practitioner) of one
// headless chromium with a fake camera and microphone: both sign in through the pages, open
// the video page from their appointment page, the patient waits, the practitioner admits
// them, both peer connections reach `connected` and each side decodes video frames from the
// other. A second run forces relay-only ICE through a local coturn started with a shared
// secret (TURN REST API), and checks that the selected candidates are relays.
// getUserMedia is watched from before the pages' scripts: the camera is asked for only after
// "Join", and every track is stopped when either side hangs up or the practice ends the
// consultation from its appointment page. Before the room opens (15 minutes before the
// start, by the server's clock) the join button is hidden and the page opens it by itself.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, newPage, checkA11y, shoot, consoleErrors, thirdPartyRequests, PHONE } from './lib/harness.mjs';
import { launchMediaBrowser, startTurn, teleconsultation, signIn, waitForMedia, watchGetUserMedia, mediaRecord } from './lib/video.mjs';

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

/** Every track the page ever got from getUserMedia is stopped (the camera light is off). */
async function assertMediaStopped(page, who) {
  const rec = await mediaRecord(page);
  assert.ok(rec.tracks.length > 0, `${who} had tracks: ${JSON.stringify(rec)}`);
  assert.ok(rec.tracks.every((t) => t.readyState === 'ended'), `${who}'s tracks all ended: ${JSON.stringify(rec)}`);
  assert.equal(await page.evaluate(() => window.careslotVideo.connectionState), 'new', `${who}'s peer connection is closed`);
}

/** On the video page, the pre-join screen: nothing asked of the camera yet; then "Join". */
async function join(page, who) {
  await waitForState(page, 'ready');
  assert.equal((await mediaRecord(page)).calls, 0, `${who}: no getUserMedia before "Join"`);
  await page.click('#join');
}

/** One consultation from the appointment pages to media both ways and a hang-up. */
async function consultation(server, { relay, label }) {
  const tc = await teleconsultation(server.url);
  // The patient is on a phone.
  const patient = await newPage(browser, { locale: 'fr-FR', baseURL: server.url, width: PHONE.width });
  const pro = await newPage(browser, { locale: 'en-GB', baseURL: server.url });
  await watchGetUserMedia(patient);
  await watchGetUserMedia(pro);
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
    await checkA11y(patient, `video-patient-prejoin-${label}`);
    await shoot(patient, `video-patient-prejoin-${label}`);
    await join(patient, 'patient');
    await waitForState(patient, 'waiting');
    assert.ok((await mediaRecord(patient)).calls >= 1, 'the camera is asked for after "Join"');
    assert.match(await patient.locator('#video-status').innerText(), /salle d’attente/);
    assert.ok((await patient.locator('#camera-select option').count()) >= 2, 'the fake camera is listed');
    await checkA11y(patient, `video-patient-waiting-${label}`);
    await shoot(patient, `video-patient-waiting-${label}`);

    // The practitioner sees who is waiting and admits them.
    await signIn(pro, tc.practitioner);
    await pro.goto(`/pro/appointments/${tc.id}`);
    await Promise.all([pro.waitForURL(/\/video$/), pro.click('#join-video')]);
    await join(pro, 'practice');
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
    await checkA11y(patient, `video-patient-connected-${label}`);
    await shoot(patient, `video-patient-connected-${label}`);
    assert.equal(await pro.locator('#rejoin').isVisible(), false);

    // The phone's call layout: the other side fills the width, one's own preview sits
    // small in a corner over it, and the controls are in reach with their names.
    const box = async (sel) => patient.locator(sel).boundingBox();
    const [remote, local] = [await box('#remote-video'), await box('#local-video')];
    assert.ok(remote.width >= PHONE.width - 40, `remote video fills the width: ${JSON.stringify(remote)}`);
    assert.ok(local.width <= remote.width * 0.35, `own preview is small: ${JSON.stringify(local)}`);
    assert.ok(local.x >= remote.x && local.y >= remote.y && local.x + local.width <= remote.x + remote.width + 1 && local.y + local.height <= remote.y + remote.height + 1,
      `own preview sits inside the remote video: ${JSON.stringify({ remote, local })}`);
    for (const id of ['toggle-mic', 'toggle-camera', 'hangup']) {
      const b = patient.locator(`#${id}`);
      await b.scrollIntoViewIfNeeded();
      assert.ok(await b.isVisible(), `${id} visible on a phone`);
      assert.ok((await b.innerText()).trim().length > 0, `${id} has a text label`);
      const bb = await b.boundingBox();
      assert.ok(bb.height >= 40 && bb.x >= 0 && bb.x + bb.width <= PHONE.width, `${id} is a reachable target: ${JSON.stringify(bb)}`);
    }

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
      await join(patient, 'patient after the reload');
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
    // The practitioner's hang-up ends the call on the patient's side too: every track
    // stopped, the peer connection closed, a clear message and the way back.
    await waitForState(patient, 'ended-by-practice');
    assert.match(await patient.locator('#video-status').innerText(), /soignant a terminé la consultation/);
    await assertMediaStopped(patient, 'patient');
    await assertMediaStopped(pro, 'practice');
    assert.equal(await pro.locator('#rejoin').isVisible(), true);
    assert.equal(await patient.locator('#back-to-appointment').getAttribute('href'), `/appointments/${tc.id}`);
    await checkA11y(patient, `video-patient-ended-${label}`);
    await shoot(patient, `video-patient-ended-${label}`);

    if (!relay) {
      // The patient comes back and waits; the practice ends the consultation from its
      // appointment page (no call page of its own open): the patient's call page stops.
      await Promise.all([patient.waitForURL(/\/video$/), patient.click('#rejoin')]);
      await join(patient, 'patient coming back');
      await waitForState(patient, 'waiting');
      assert.ok((await mediaRecord(patient)).tracks.some((t) => t.readyState === 'live'), 'the camera is on while waiting');
      await pro.goto(`/pro/appointments/${tc.id}`);
      await checkA11y(pro, 'desk-appointment-video-open');
      await Promise.all([pro.waitForURL(new RegExp(`/pro/appointments/${tc.id}$`)), pro.click('#end-video')]);
      await waitForState(patient, 'ended-by-practice');
      await assertMediaStopped(patient, 'patient after the desk ended the consultation');
    }

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

test('the join button and the camera wait for the room to open (15 minutes before)', async () => {
  const server = await startServer();
  const patient = await newPage(browser, { locale: 'de-DE', baseURL: server.url, width: PHONE.width });
  const room = await newPage(browser, { locale: 'de-DE', baseURL: server.url, width: PHONE.width });
  const early = await newPage(browser, { locale: 'de-DE', baseURL: server.url, width: PHONE.width });
  await watchGetUserMedia(room);
  await watchGetUserMedia(early);
  try {
    // One-minute slots: one whose room opens in 20 to 80 seconds, one two hours ahead.
    const opensIn = (slot) => Date.parse(slot.start) - 15 * 60_000 - Date.now();
    const tc = await teleconsultation(server.url, { duration: 1, choose: (slots) => slots.find((x) => opensIn(x) > 20_000) });
    const later = await tc.book((slots) => slots.find((x) => Date.parse(x.start) - Date.now() > 2 * 3600_000));

    // The API refuses before the opening: problem+json that says when, Retry-After.
    for (const a of [tc, later]) {
      const res = await fetch(`${server.url}/api/v1/appointments/${a.id}/video-session`, {
        method: 'POST', headers: { authorization: `Bearer ${tc.patient.token}`, 'content-type': 'application/json' }, body: '{}',
      });
      assert.equal(res.status, 409);
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      const p = await res.json();
      assert.equal(p.type, 'https://careslot.eu/problems/room-not-open');
      const opens = Date.parse(a.start) - 15 * 60_000;
      assert.equal(Date.parse(p.detail.split(' at ').pop()), opens, p.detail);
      const wait = Number(res.headers.get('retry-after'));
      assert.ok(Math.abs(wait * 1000 - (opens - Date.now())) < 5_000, `Retry-After ${wait} s`);
    }

    await signIn(patient, tc.patient);
    // Join pressed before the server's opening (a page whose countdown ran ahead; forced
    // here): the server refuses with Retry-After, the page says the room opens in a moment,
    // keeps the camera off, and joins by itself once the room is open (checked below).
    await early.context().addCookies(await patient.context().cookies());
    await early.goto(`/appointments/${tc.id}/video`);
    await early.evaluate(() => { document.getElementById('join').disabled = false; });
    await early.click('#join');
    await waitForState(early, 'room-opening');
    assert.match(await early.locator('#video-status').innerText(), /öffnet in einem Moment/);
    assert.equal(await early.evaluate(() => window.careslotVideo.mediaLive), false, 'the camera is off while it waits');
    await checkA11y(early, 'video-room-opening');

    // Two hours ahead: the appointment page says when the room opens; no button.
    await patient.goto(`/appointments/${later.id}`);
    assert.equal(await patient.locator('#join-video').isVisible(), false);
    const parisTime = (t) => new Date(t).toLocaleTimeString('de-DE', { hour: '2-digit', minute: '2-digit', timeZone: 'Europe/Paris' });
    assert.match(await patient.locator('#video-opens').innerText(), new RegExp(`${parisTime(Date.parse(later.start) - 15 * 60_000)}`));
    await checkA11y(patient, 'appointment-video-not-open');
    await shoot(patient, 'appointment-video-not-open');

    // Soon: the appointment page and the call page (opened directly) wait, camera off,
    // and open by themselves at the time the server gave.
    await patient.goto(`/appointments/${tc.id}`);
    assert.equal(await patient.locator('#join-video').isVisible(), false);
    await room.context().addCookies(await patient.context().cookies());
    await room.goto(`/appointments/${tc.id}/video`);
    assert.equal(await room.locator('#video').getAttribute('data-state'), 'not-open');
    assert.equal(await room.locator('#join').isDisabled(), true);
    await checkA11y(room, 'video-not-open');
    await shoot(room, 'video-not-open');
    // Even the device check stays unused: nothing asks for the camera while it waits.
    await patient.locator('#join-video').waitFor({ state: 'visible', timeout: 120_000 });
    assert.ok(Date.now() >= Date.parse(tc.start) - 15 * 60_000 - 2_000, 'not shown before the opening');
    await room.waitForFunction(() => !document.getElementById('join').disabled, null, { timeout: 30_000 });
    await waitForState(room, 'ready');
    assert.equal((await mediaRecord(room)).calls, 0, 'no getUserMedia while the room was closed');
    assert.equal(await room.evaluate(() => window.careslotVideo.mediaLive), false);

    // The device check asks for the camera only when clicked, and gives it back.
    await room.click('#device-check');
    await room.waitForFunction(() => window.careslotVideo.mediaLive, null, { timeout: 30_000 });
    await room.click('#device-check');
    const rec = await mediaRecord(room);
    assert.equal(rec.calls, 1);
    assert.ok(rec.tracks.every((t) => t.readyState === 'ended'), JSON.stringify(rec));

    // The early page has joined by itself: the waiting room, camera on.
    await waitForState(early, 'waiting');
    assert.equal(await early.evaluate(() => window.careslotVideo.mediaLive), true);

    // Joining from this page works too (the page tries again by itself should it be a
    // moment early): the waiting room; the early page's call goes on here.
    await room.click('#join');
    await waitForState(room, 'waiting');
    await waitForState(early, 'replaced');
    await assertMediaStopped(early, 'the replaced page');
    await checkA11y(room, 'video-patient-waiting-de');
    // Own hang-up stops own tracks.
    await room.click('#hangup');
    await waitForState(room, 'ended');
    await assertMediaStopped(room, 'patient after hanging up');
    for (const page of [patient, room, early]) {
      assert.deepEqual(thirdPartyRequests(page), []);
      // The early page's refused join is the browser's own log line of a 409, nothing else.
      const errors = consoleErrors(page).filter((e) => page !== early || !/status of 409/.test(e));
      assert.deepEqual(errors, [], `console errors on ${page.url()}`);
    }
  } finally {
    await patient.context().close();
    await room.context().close();
    await early.context().close();
    await server.stop();
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
