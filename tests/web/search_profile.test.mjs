// Search results people can use and the practitioner's public profile (issue 17 point 2), at
// 390 px and 1280 px: each filter narrows the results as expected, the sort orders them,
// pages split them, the map shows this page's results as markers (its tiles cannot load
// here: the harness blocks every other host, and the page must not mind); a practitioner
// uploads a photo from their profile page and it shows on the public page and the search
// card. axe: no serious or critical violation on any of these pages.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import {
  startServer, launchBrowser, newPage, checkA11y, shoot, consoleErrors, thirdPartyRequests,
  apiOk, enrolMfa, answerSecondFactor, verifyPractitioner, PHONE, DESKTOP,
} from './lib/harness.mjs';

const stamp = Date.now();
const password = 'correct horse battery';
const LAT = 48.8566;
const LON = 2.3522;
const POINT = `lat=${LAT}&lon=${LON}`;
/** The web page shows 20 results a page. */
const PER_PAGE = 20;
const FILLERS = 22;

let server;
let browser;
const anne = { name: 'Dr Anne Carte', email: `anne.carte.${stamp}@example.org` };
const bruno = { name: 'Dr Bruno Plan', email: `bruno.plan.${stamp}@example.org` };

const api = (method, path, body, token) => apiOk(server.url, method, path, { body, token });

/** A verified practice `km` north of the point, open every day 08:00–18:00. */
async function practice(who, { km, languages = ['fr'], facts = {}, wheelchair = false, video = false, noticeMin = 0 }) {
  await api('POST', '/api/v1/accounts', { email: who.email, password, name: who.name, role: 'practitioner' });
  who.token = (await api('POST', '/api/v1/sessions', { email: who.email, password })).token;
  await api('PUT', '/api/v1/practitioner/profile', { name: who.name, specialty: 'general-practitioner', languages, ...facts }, who.token);
  const place = await api('POST', '/api/v1/places', {
    name: 'Cabinet', address: '1 rue de Rivoli', postcode: '75004', city: 'Paris', country: 'FR',
    lat: LAT + km / 111.2, lon: LON, timezone: 'Europe/Paris', wheelchair_access: wheelchair,
  }, who.token);
  who.agenda = (await api('POST', '/api/v1/agendas', { place_id: place.id, holidays: null }, who.token)).id;
  const motives = [];
  for (const teleconsultation of video ? [false, true] : [false]) {
    motives.push((await api('POST', `/api/v1/agendas/${who.agenda}/motives`, {
      name: 'Consultation', duration_min: 30, min_notice_min: noticeMin, teleconsultation,
    }, who.token)).id);
  }
  await api('POST', `/api/v1/agendas/${who.agenda}/opening-rules`, {
    weekdays: [1, 2, 3, 4, 5, 6, 7], start: '08:00', end: '18:00', motive_ids: motives,
  }, who.token);
  await verifyPractitioner(server, who.token);
  return who;
}

// --- a PNG made here (no image library): a gradient, so the crop and resize have work ---
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
function png(width, height) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      raw[row + 1 + x * 3] = (x * 255) / width;
      raw[row + 2 + x * 3] = (y * 255) / height;
      raw[row + 3 + x * 3] = 160;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

before(async () => {
  server = await startServer({ demo: false });
  browser = await launchBrowser();
  // Anne: nearest, video, wheelchair access, sector 1, English; booked up for three days.
  await practice(anne, { km: 0.1, languages: ['fr', 'en'], facts: { fee_sector: 'sector-1' }, wheelchair: true, video: true, noticeMin: 3 * 1440 });
  await enrolMfa(server.url, anne);
  // Bruno: German, sector 2, not taking new patients.
  await practice(bruno, { km: 0.6, languages: ['fr', 'de'], facts: { fee_sector: 'sector-2', accepts_new_patients: false } });
  // Enough others for a second page, further away, free from now.
  for (let i = 0; i < FILLERS; i++) {
    await practice({ name: `Dr Filler ${String(i).padStart(2, '0')}`, email: `filler.${i}.${stamp}@example.org` }, { km: 1 + i * 0.3 });
  }
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function names(page) {
  return page.locator('.results .result-name').allInnerTexts();
}

async function count(page) {
  return (await page.locator('[data-count]').innerText()).trim();
}

for (const width of [PHONE.width, DESKTOP.width]) {
  test(`filters, sort, pages and the map at ${width} px`, async () => {
    const page = await newPage(browser, { width, baseURL: server.url });
    try {
      const total = FILLERS + 2;
      await page.goto(`/search?q=&${POINT}&sort=nearest`);
      assert.match(await count(page), new RegExp(`${total}`));
      let shown = await names(page);
      assert.equal(shown.length, PER_PAGE);
      assert.deepEqual(shown.slice(0, 3), [anne.name, bruno.name, 'Dr Filler 00'], 'nearest first');
      await checkA11y(page, `search-${width}`);

      // Earliest: Anne (three days' notice) is no longer first; the default weighs both.
      await page.selectOption('#sort', 'earliest');
      await Promise.all([page.waitForNavigation(), page.click('form[data-refine] button[type=submit]')]);
      assert.match(page.url(), /sort=earliest/);
      shown = await names(page);
      assert.notEqual(shown[0], anne.name, 'the nearest is booked up for three days');

      // Each filter narrows as expected (through the form, as a visitor does).
      const filtered = async (apply, expected) => {
        await page.goto(`/search?q=&${POINT}&sort=nearest`);
        await apply();
        await Promise.all([page.waitForNavigation(), page.click('form[data-refine] button[type=submit]')]);
        const got = await names(page);
        if (typeof expected === 'number') assert.equal(got.length, Math.min(expected, PER_PAGE), page.url());
        else assert.deepEqual(got, expected, page.url());
        assert.match(await count(page), new RegExp(`${typeof expected === 'number' ? expected : expected.length}`));
      };
      await filtered(() => page.check('input[name=tele]'), [anne.name]);
      await filtered(() => page.check('input[name=access]'), [anne.name]);
      await filtered(() => page.selectOption('#f-lang', 'de'), [bruno.name]);
      await filtered(() => page.selectOption('#f-lang', 'en'), [anne.name]);
      await filtered(() => page.selectOption('#f-sector', 'sector-2'), [bruno.name]);
      await filtered(() => page.check('input[name=newp]'), total - 1);
      assert.ok(!(await names(page)).includes(bruno.name), 'not taking new patients: left out');
      await checkA11y(page, `search-filtered-${width}`);

      // Pages: the rest on page 2, and back.
      await page.goto(`/search?q=&${POINT}&sort=nearest`);
      await Promise.all([page.waitForNavigation(), page.click('nav.pages a[rel=next]')]);
      assert.match(page.url(), /page=2/);
      assert.equal((await names(page)).length, total - PER_PAGE);
      await checkA11y(page, `search-page2-${width}`);
      await Promise.all([page.waitForNavigation(), page.click('nav.pages a[rel=prev]')]);
      assert.equal((await names(page)).length, PER_PAGE);

      // The map: hidden until asked, then one marker per result of this page, each linking
      // to the practitioner. Its tiles fail to load (blocked): the page does not mind.
      const toggle = page.locator('[data-map-toggle]');
      await toggle.waitFor();
      assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
      await toggle.click();
      await page.locator('#results-map .leaflet-marker-icon').first().waitFor();
      assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
      assert.equal(await page.locator('#results-map .leaflet-marker-icon').count(), PER_PAGE);
      await page.locator(`#results-map .leaflet-marker-icon[title="${anne.name}"]`).click();
      const popupLink = page.locator('#results-map .leaflet-popup-content a');
      assert.equal(await popupLink.getAttribute('href'), `/p/${anne.agenda}`);
      assert.equal(await popupLink.innerText(), anne.name);
      await checkA11y(page, `search-map-${width}`);
      await shoot(page, `search-map-${width}`);
      const elsewhere = thirdPartyRequests(page);
      assert.ok(elsewhere.every((u) => u.startsWith('https://tile.openstreetmap.org/')), elsewhere.join('\n'));
      const errors = consoleErrors(page).filter((e) => !/Failed to load resource|ERR_BLOCKED_BY_CLIENT/.test(e));
      assert.deepEqual(errors, [], 'no script or CSP error');
      // The list is untouched and still usable.
      assert.equal((await names(page)).length, PER_PAGE);
      await toggle.click();
      assert.equal(await page.locator('#results-map').isHidden(), true);
    } finally {
      await page.context().close();
    }
  });
}

test('a practitioner uploads a photo: it shows on the public page and the search card', async () => {
  const page = await newPage(browser, { width: DESKTOP.width, baseURL: server.url });
  try {
    await page.goto('/signin');
    await page.fill('#email', anne.email);
    await page.fill('#password', password);
    await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
    await answerSecondFactor(page, anne);

    await page.goto('/pro/onboarding/profile');
    await checkA11y(page, 'profile-no-photo');
    // Every public-page field is on this form.
    for (const sel of ['#bio', '#lang-en', '#accepts_new_patients', '#fee_sector', '#wheelchair_access', '#access_details', '#photo-file']) {
      assert.equal(await page.locator(sel).count(), 1, sel);
    }
    assert.equal(await page.locator('#fee_sector').inputValue(), 'sector-1');

    // Not an image: a clear message, no error page.
    await page.setInputFiles('#photo-file', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('just some text') });
    await Promise.all([page.waitForNavigation(), page.click('#photo form[enctype] button[type=submit]')]);
    assert.match(await page.locator('#photo [role=alert]').innerText(), /not a readable JPEG, PNG or WebP/);

    await page.setInputFiles('#photo-file', { name: 'anne.png', mimeType: 'image/png', buffer: png(640, 420) });
    await Promise.all([page.waitForNavigation(), page.click('#photo form[enctype] button[type=submit]')]);
    assert.match(await page.locator('#photo [role=status]').innerText(), /Photo saved/);
    const src = await page.locator('#photo img.photo').getAttribute('src');
    assert.match(src, new RegExp(`^/p/${anne.agenda}/photo/[0-9a-f]{16}\\.jpg$`));
    await checkA11y(page, 'profile-photo');

    // The access details, from the same form.
    await page.fill('#access_details', 'Ground floor, step-free entrance');
    await Promise.all([page.waitForNavigation(), page.click('main form[action="/pro/onboarding/profile"] button[type=submit]')]);

    for (const width of [PHONE.width, DESKTOP.width]) {
      await page.setViewportSize(width === PHONE.width ? PHONE : DESKTOP);
      await page.goto(`/p/${anne.agenda}`);
      const img = page.locator('.profile img.photo');
      assert.equal(await img.getAttribute('src'), src);
      assert.equal(await img.getAttribute('alt'), `Photo of ${anne.name}`);
      assert.ok(await img.evaluate((el) => el.complete && el.naturalWidth === 400), 'the photo loads');
      assert.match(await page.locator('.facts').innerText(), /Ground floor, step-free entrance/);
      await checkA11y(page, `public-page-photo-${width}`);
      await shoot(page, `public-page-photo-${width}`);

      await page.goto(`/search?q=&${POINT}&sort=nearest`);
      const card = page.locator(`#r-${anne.agenda} img.photo`);
      assert.equal(await card.getAttribute('src'), src.replace('.jpg', '-small.jpg'));
      assert.equal(await card.getAttribute('alt'), `Photo of ${anne.name}`);
      assert.ok(await card.evaluate((el) => el.complete && el.naturalWidth === 96), 'the small photo loads');
      await checkA11y(page, `search-photo-${width}`);
    }

    // Removable.
    await page.goto('/pro/onboarding/profile');
    await Promise.all([page.waitForNavigation(), page.click('form[action="/pro/profile/photo/delete"] button')]);
    assert.match(await page.locator('#photo [role=status]').innerText(), /Photo removed/);
    await page.goto(`/p/${anne.agenda}`);
    assert.equal(await page.locator('.profile img.photo').count(), 0);
  } finally {
    await page.context().close();
  }
});
