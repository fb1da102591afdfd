// Helpers of the video consultation tests: chromium with a fake camera and microphone, a
// local coturn started with a shared secret (TURN REST API), and a teleconsultation booked
// through the API whose room is open now.
//
// Nothing here skips: a missing turnserver is an error that says how to install it.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { LOG_DIR, answerSecondFactor, callApi, enrolMfa } from './harness.mjs';

/**
 * Headless Debian chromium (like harness.launchBrowser) that grants camera and microphone
 * without asking and feeds them a synthetic test pattern and tone.
 */
export async function launchMediaBrowser() {
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    throw new Error(`Chromium not found at ${executablePath}. Install it: apt-get install chromium, or set CHROMIUM_PATH.`);
  }
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    ],
  });
}

async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

/** The turnserver binary ($TURNSERVER_PATH, else turnserver on the PATH), or a clear error. */
function turnserverPath() {
  const bin = process.env.TURNSERVER_PATH || 'turnserver';
  const found = bin.includes('/') ? fs.existsSync(bin) : spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
  if (!found) {
    throw new Error(
      'turnserver (coturn) is missing: the relay-only video test needs it. ' +
        'Install it: apt-get install coturn (or set TURNSERVER_PATH).',
    );
  }
  return bin;
}

/**
 * A local coturn on a free port: TURN REST API authentication with a random shared secret
 * (written to a file for `careslot serve --turn-secret-file`), loopback only, no TLS,
 * loopback peers allowed (the two browsers' relays are both on 127.0.0.1).
 * @returns {Promise<{url: string, secretFile: string, logPath: string, stop: () => Promise<void>}>}
 */
export async function startTurn() {
  const bin = turnserverPath();
  const port = await freePort();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'careslot-turn-'));
  const secret = crypto.randomBytes(24).toString('base64url');
  const secretFile = path.join(dir, 'turn-secret');
  await fsp.writeFile(secretFile, secret + '\n', { mode: 0o600 });
  await fsp.mkdir(LOG_DIR, { recursive: true });
  const logPath = path.join(LOG_DIR, `turnserver-${port}.log`);
  const log = fs.openSync(logPath, 'w');
  const child = spawn(bin, [
    '-n', // no configuration file: only these options
    '--listening-port', String(port),
    '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1',
    '--use-auth-secret', `--static-auth-secret=${secret}`, '--realm=careslot.test',
    '--no-tls', '--no-dtls', '--allow-loopback-peers', '--no-cli',
    '--fingerprint', '--verbose', '--simple-log', '--log-file=stdout',
    `--userdb=${path.join(dir, 'turndb')}`,
    `--pidfile=${path.join(dir, 'turnserver.pid')}`,
  ], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited = null;
  child.on('exit', (code, signal) => { exited = signal ? `signal ${signal}` : `exit code ${code}`; });
  const stop = async () => {
    if (exited === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await once(child, 'exit').catch(() => {});
      clearTimeout(killer);
    }
    await fsp.rm(dir, { recursive: true, force: true });
  };
  process.on('exit', () => { if (exited === null) child.kill('SIGKILL'); });
  // Ready once it accepts TCP on its port (it listens on UDP and TCP together).
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited !== null) {
      await stop();
      throw new Error(`turnserver stopped (${exited}); log ${logPath}:\n${fs.readFileSync(logPath, 'utf8').slice(-3000)}`);
    }
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`turnserver did not listen on ${port}; log ${logPath}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `turn:127.0.0.1:${port}?transport=udp`, secretFile, logPath, stop };
}

const api = (base, method, p, opts) => callApi(base, method, p, opts);

async function account(base, role, name) {
  const who = { email: `${role}.${crypto.randomBytes(6).toString('hex')}@example.org`, password: 'correct horse battery', name };
  const a = await api(base, 'POST', '/api/v1/accounts', { body: { ...who, role } });
  assert.equal(a.status, 201, JSON.stringify(a.body));
  const s = await api(base, 'POST', '/api/v1/sessions', { body: { email: who.email, password: who.password } });
  assert.equal(s.status, 201, JSON.stringify(s.body));
  const out = { ...who, token: s.body.token };
  // Practice accounts see patient data only with two-factor authentication.
  if (role === 'practitioner') await enrolMfa(base, out);
  return out;
}

/**
 * Through the API: a practitioner open all day every day with a teleconsultation motive of
 * `duration` minutes (no minimum notice), and a patient who books a slot: by default the
 * first free one, which starts within 15 minutes, so the room is open now (it opens 15
 * minutes before the start; 5-minute steps leave a start within 10 minutes at any time of
 * day, 15-minute ones none from 23:30 to 23:45); `choose(slots)` picks another.
 * `book(choose)` books more for the same patient.
 * @returns {Promise<{id: string, start: string, patient: object, practitioner: object, book: Function}>}
 */
export async function teleconsultation(base, { duration = 5, choose } = {}) {
  const practitioner = await account(base, 'practitioner', 'Dr Vera Video');
  const t = { token: practitioner.token };
  let r = await api(base, 'PUT', '/api/v1/practitioner/profile', { ...t, body: { name: 'Dr Vera Video', specialty: 'general-practitioner' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const place = await api(base, 'POST', '/api/v1/places', { ...t, body: {
    name: 'Cabinet', address: '1 rue de la Paix', postcode: '75002', city: 'Paris', country: 'FR', lat: 48.869, lon: 2.331, timezone: 'Europe/Paris',
  } });
  assert.equal(place.status, 201, JSON.stringify(place.body));
  const agenda = await api(base, 'POST', '/api/v1/agendas', { ...t, body: { place_id: place.body.id, holidays: null } });
  assert.equal(agenda.status, 201, JSON.stringify(agenda.body));
  const motive = await api(base, 'POST', `/api/v1/agendas/${agenda.body.id}/motives`, { ...t, body: {
    name: 'Téléconsultation', duration_min: duration, teleconsultation: true, min_notice_min: 0,
  } });
  assert.equal(motive.status, 201, JSON.stringify(motive.body));
  r = await api(base, 'POST', `/api/v1/agendas/${agenda.body.id}/opening-rules`, { ...t, body: {
    weekdays: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '23:59', motive_ids: [motive.body.id],
  } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const patient = await account(base, 'patient', 'Paul Patient');
  const day = (d) => new Date(Date.now() + d * 86_400_000).toLocaleDateString('sv-SE', { timeZone: 'Europe/Paris' });
  const book = async (pick) => {
    const slots = await api(base, 'GET', `/api/v1/agendas/${agenda.body.id}/slots?motive_id=${motive.body.id}&from=${day(0)}&to=${day(1)}`);
    assert.equal(slots.status, 200);
    const slot = pick ? pick(slots.body.slots) : slots.body.slots[0];
    assert.ok(slot, 'a slot to book');
    const appt = await api(base, 'POST', '/api/v1/appointments', { token: patient.token, body: {
      agenda_id: agenda.body.id, motive_id: motive.body.id, start: slot.start,
    } });
    assert.equal(appt.status, 201, JSON.stringify(appt.body));
    return { id: appt.body.id, start: slot.start };
  };
  const first = await book(choose);
  if (!choose) {
    assert.ok(Date.parse(first.start) - Date.now() <= 15 * 60_000, `the first slot starts within 15 minutes: ${first.start}`);
  }
  return { ...first, patient, practitioner, book };
}

/**
 * Records, before any of the page's scripts run, every getUserMedia call and the streams it
 * returned (window.__gum: {calls, streams}), so a test can tell when the camera was asked
 * for and whether its tracks were stopped.
 */
export async function watchGetUserMedia(page) {
  await page.addInitScript(() => {
    const md = navigator.mediaDevices;
    if (!md || !md.getUserMedia) return;
    const original = md.getUserMedia.bind(md);
    const rec = { calls: 0, streams: [] };
    Object.defineProperty(window, '__gum', { value: rec });
    md.getUserMedia = async (constraints) => {
      rec.calls += 1;
      const stream = await original(constraints);
      rec.streams.push(stream);
      return stream;
    };
  });
}

/** What the page got from getUserMedia: calls, tracks and their readyState. */
export async function mediaRecord(page) {
  return page.evaluate(() => ({
    calls: window.__gum.calls,
    tracks: window.__gum.streams.flatMap((s) => s.getTracks()).map((t) => ({ kind: t.kind, readyState: t.readyState })),
  }));
}

/** Signs in through the real sign-in page. */
export async function signIn(page, who) {
  await page.goto('/signin');
  await page.fill('#email', who.email);
  await page.fill('#password', who.password);
  await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
  await answerSecondFactor(page, who);
}

/**
 * Waits until the page's call is connected and has decoded video frames from the other
 * side (getStats through the page's debug hook); returns the last stats. On timeout the
 * error carries the peer connection's and the page's states.
 */
export async function waitForMedia(page, timeout = 60_000) {
  const deadline = Date.now() + timeout;
  let last = null;
  for (;;) {
    last = await page.evaluate(() => window.careslotVideo && window.careslotVideo.stats());
    if (last && last.connectionState === 'connected' && last.framesDecoded > 0 && last.localCandidateType) return last;
    if (Date.now() > deadline) {
      const state = await page.evaluate(() => ({ ...document.getElementById('video').dataset }));
      for (const k of Object.keys(state)) if (k.startsWith('msg') || k === 'csrf') delete state[k];
      throw new Error(`no call with video at ${page.url()}: stats ${JSON.stringify(last)}, page ${JSON.stringify(state)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
