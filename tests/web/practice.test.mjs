// A practitioner signs up and is bookable within 6 screens, a patient books them, an
// assistant they invite books a patient on the phone and sets his visit statuses; and the
// pages follow the visitor's language (Accept-Language, then the switcher).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, newPage, checkA11y, shoot, thirdPartyRequests, enrolOnPage, freshRpps, operatorAccount, operatorSignIn } from './lib/harness.mjs';
import { startMailbox, typeSignupCode } from './lib/mailbox.mjs';

let server;
let browser;
let mailbox;
const stamp = Date.now();
const doctor = { name: 'Dr Claire Testeur', email: `claire.${stamp}@example.org`, password: 'correct horse battery' };
let publicPath;
// The day of the patient's booking (the earliest slot: next week's when this week has none
// left, e.g. on a Sunday evening).
let patientDay;

before(async () => {
  mailbox = await startMailbox();
  server = await startServer({ demo: false, args: mailbox.args });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  mailbox?.stop();
});

async function visit(page, label) {
  await checkA11y(page, label);
  await shoot(page, label);
}

async function submit(page, selector = 'main form button[type=submit]') {
  await Promise.all([page.waitForLoadState('load'), page.waitForNavigation(), page.click(selector)]);
}

test('a practitioner goes from the sign-up form to a bookable page in at most 6 screens', async () => {
  const page = await newPage(browser, { locale: 'fr-FR', baseURL: server.url });
  try {
    const screens = [];
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) screens.push(new URL(f.url()).pathname); });
    await page.goto('/pro/signup');
    await visit(page, 'pro-signup');
    await page.fill('#name', doctor.name);
    await page.fill('#email', doctor.email);
    await page.fill('#password', doctor.password);
    await submit(page);

    // Verify first: the profile screen opens with the code mailed to the address on top.
    assert.match(page.url(), /\/pro\/signup$/);
    await visit(page, 'onboarding-profile-code');
    await typeSignupCode(page, mailbox, doctor.email);
    await page.selectOption('#specialty', 'general-practitioner');
    await page.check('#lang-en');
    await page.fill('#bio', 'Médecine générale, adultes et enfants.');
    await submit(page);

    assert.match(page.url(), /\/pro\/onboarding\/place$/);
    await visit(page, 'onboarding-place');
    await page.fill('#place_name', 'Cabinet Testeur');
    await page.fill('#address', '12 rue de la République');
    await page.fill('#postcode', '69002');
    await page.fill('#city', 'Lyon');
    await submit(page);

    assert.match(page.url(), /\/pro\/onboarding\/motives$/);
    await visit(page, 'onboarding-motives');
    await page.fill('#motive_1_name', 'Suivi');
    await page.selectOption('#motive_1_duration', '15');
    await page.check('#teleconsultation');
    await submit(page);

    assert.match(page.url(), /\/pro\/onboarding\/hours$/);
    await visit(page, 'onboarding-hours');
    for (const d of ['6', '7']) await page.check(`#wd-${d}`); // every day: bookable whatever today is
    await submit(page);

    assert.match(page.url(), /\/p\/[^/]+$/, 'the last screen is the public page');
    publicPath = new URL(page.url()).pathname;
    assert.ok(screens.length <= 6, `screens: ${screens.join(' → ')}`);
    assert.ok((await page.locator('button.slot').count()) > 0, 'the page is bookable');
    await visit(page, 'practitioner-new');

    // Not listed until verified: the practitioner declares their RPPS number (a wrong
    // check key is refused with a message), then waits for the platform.
    await page.goto('/pro/verification');
    assert.equal(await page.locator('#verification-status').getAttribute('data-status'), 'unverified');
    await visit(page, 'verification-unverified');
    await page.fill('#v-id', '10001766674');
    await submit(page);
    assert.equal(await page.locator('main [role=alert]').count(), 1, 'a wrong key is refused');
    await page.selectOption('#v-scheme', 'rpps');
    await page.fill('#v-id', freshRpps());
    await submit(page);
    assert.equal(await page.locator('#verification-status').getAttribute('data-status'), 'pending');
    await visit(page, 'verification-pending');
  } finally {
    await page.context().close();
  }
});

test('the operator verifies the new practitioner from the review queue', async () => {
  assert.ok(publicPath, 'onboarding ran first');
  const page = await newPage(browser, { locale: 'fr-FR', baseURL: server.url });
  try {
    await page.goto('/search?q=Testeur&where=Lyon');
    assert.equal(await page.locator('li.result').count(), 0, 'not listed while pending');
    // A named operator account with the verification role only: no campaign section.
    const reviewer = await operatorAccount(server, ['verification'], 'Victor Vérificateur');
    await operatorSignIn(page, reviewer);
    assert.equal(await page.locator('#tot-h').count(), 0, 'no campaign role, no campaign section');
    await Promise.all([page.waitForURL(/\/operator\/practitioners/), page.click('#review-queue-link')]);
    const row = page.locator('#review-queue tr', { hasText: doctor.name });
    assert.equal(await row.count(), 1);
    await visit(page, 'operator-review-queue');
    await Promise.all([page.waitForNavigation(), row.locator('form[action$="/verify"] button').click()]);
    assert.equal(await page.locator('#review-queue tr', { hasText: doctor.name }).count(), 0, 'left the pending queue');
    // The history names the operator account that decided.
    await page.goto('/operator/practitioners?status=verified');
    const decided = page.locator('#review-queue tr', { hasText: doctor.name });
    assert.match(await decided.innerText(), new RegExp(`operator:${reviewer.id}`));
  } finally {
    await page.context().close();
  }
});

test('a patient finds the new practitioner and books them, signing up inline', async () => {
  assert.ok(publicPath, 'onboarding ran first');
  const page = await newPage(browser, { locale: 'en-GB', baseURL: server.url });
  try {
    await page.goto('/search?q=Testeur&where=Lyon');
    assert.equal(await page.locator('li.result').count(), 1);
    await page.goto(publicPath);
    patientDay = await page.locator('.day', { has: page.locator('button.slot') }).first().getAttribute('data-day');
    await Promise.all([page.waitForURL(/\/book\//), page.locator('button.slot').first().click()]);
    const holdUrl = page.url();
    await page.fill('#up-name', 'Paul Patient');
    await page.fill('#up-email', `paul.${stamp}@example.org`);
    await page.fill('#up-password', 'a long enough password');
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/signup"] button[type=submit]')]);
    // Verify first: the code mailed to the address, then back on the same hold.
    await visit(page, 'signup-code');
    await typeSignupCode(page, mailbox, `paul.${stamp}@example.org`);
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/signup/code"] button[type=submit]')]);
    assert.equal(page.url(), holdUrl, 'back on the same hold, now signed up');
    await Promise.all([page.waitForURL(/booked=1/), page.click('form[action$="/confirm"] button[type=submit]')]);
    assert.equal(await page.locator('h1.ok').count(), 1);
  } finally {
    await page.context().close();
  }
});

test('an invited assistant books a patient on the phone, and sees only the agenda', async () => {
  assert.ok(publicPath, 'onboarding ran first');
  const pro = await newPage(browser, { locale: 'fr-FR', baseURL: server.url });
  const asst = await newPage(browser, { locale: 'fr-FR', baseURL: server.url });
  try {
    await pro.goto('/signin');
    await pro.fill('#email', doctor.email);
    await pro.fill('#password', doctor.password);
    await submit(pro);
    // Patient data needs two-factor authentication: set it up on the security page.
    await enrolOnPage(pro, doctor);
    await pro.goto('/pro/agenda');
    assert.match(pro.url(), /\/pro\/agenda/);
    await visit(pro, 'desk-day');
    assert.match(patientDay ?? '', /^\d{4}-\d{2}-\d{2}$/, 'the booking test ran first');
    await pro.goto(`/pro/agenda?view=week&date=${patientDay}`);
    assert.ok((await pro.locator('.item.appointment').count()) >= 1, "the patient's booking is in its week");
    await visit(pro, 'desk-week');
    await pro.goto('/pro/settings');
    await visit(pro, 'settings');
    // The agenda's calendar subscription: made, shown with its copy button, read by a
    // calendar app through the URL alone, then revoked (the URL answers 404).
    await submit(pro, 'form[action="/pro/settings/feed"] button[type=submit]');
    const feedUrl = await pro.inputValue('#feed-url');
    assert.match(feedUrl, /\/api\/v1\/agenda-feeds\/[0-9a-f]{64}\.ics$/);
    assert.equal(await pro.locator('#copy-feed').isVisible(), true, 'the copy button shows with JS');
    await visit(pro, 'settings-feed');
    const feedAnswer = await fetch(feedUrl);
    assert.equal(feedAnswer.status, 200);
    assert.match(await feedAnswer.text(), /BEGIN:VCALENDAR/);
    await submit(pro, 'form[action="/pro/settings/feed/revoke"] button[type=submit]');
    assert.equal(await pro.locator('#feed-url').count(), 0);
    assert.equal((await fetch(feedUrl)).status, 404);
    // An absence tomorrow morning shows in the agenda and closes those slots.
    const tomorrow = new Date(Date.now() + 24 * 3600 * 1000).toISOString().slice(0, 10);
    await pro.fill('#a-start', `${tomorrow}T08:00`);
    await pro.fill('#a-end', `${tomorrow}T13:00`);
    await pro.fill('#a-reason', 'Formation');
    await submit(pro, 'form[action="/pro/settings/absences"] button[type=submit]');
    assert.match(await pro.locator('section[aria-labelledby=abs-h]').innerText(), new RegExp(tomorrow.slice(8, 10).replace(/^0/, '')));
    await pro.goto(`/pro/agenda?date=${tomorrow}`);
    assert.equal(await pro.locator('.item.absence').count(), 1);
    assert.match(await pro.locator('.item.absence').innerText(), /Formation/, 'the reason shows');
    // A general practitioner has no dose stock in the menu.
    assert.equal(await pro.locator('nav a[href="/pro/stock"]').count(), 0);
    assert.equal(await pro.locator('.item.free', { hasText: '09:00' }).count(), 0, 'no free slot during the absence');
    // Renaming a motive shows on the public page.
    await pro.goto('/pro/settings');
    // The fee field only where it applies: a new in-person motive has none, until it is a
    // teleconsultation.
    assert.equal(await pro.locator('#new-fee').isVisible(), false);
    await pro.check('#new-video');
    assert.equal(await pro.locator('#new-fee').isVisible(), true);
    await pro.uncheck('#new-video');
    await pro.locator('form.motive-edit input[name=name]').first().fill('Première consultation');
    await submit(pro, 'form.motive-edit button[type=submit]');
    await pro.goto(publicPath);
    assert.match(await pro.locator('.motives').innerText(), /Première consultation/);
    await pro.goto('/pro/team');
    await submit(pro, 'form[action="/pro/team/invite"] button');
    const link = await pro.inputValue('#invite-link');
    assert.match(link, /\/invite\//);
    await visit(pro, 'team');

    await asst.goto(new URL(link).pathname);
    await visit(asst, 'invite');
    const anne = `anne.${stamp}@example.org`;
    await asst.fill('#name', 'Anne Assistante');
    await asst.fill('#email', anne);
    await asst.fill('#password', 'assistant password 1');
    await submit(asst);
    // Verify first (issue 15): "check your mailbox", no session; the link mailed to the
    // address opens the account, then the assistant signs in.
    assert.equal(await asst.locator('#sent-h').count(), 1, 'check your mailbox');
    await visit(asst, 'invite-sent');
    await asst.goto(await mailbox.verificationLinkFor(anne));
    await submit(asst, 'form[action="/email-verification"] button[type=submit]');
    assert.equal(await asst.locator('p.ok[role=status]').count(), 1, 'the address is verified');
    await asst.goto('/signin');
    await asst.fill('#email', anne);
    await asst.fill('#password', 'assistant password 1');
    await submit(asst, 'form[action="/signin"] button[type=submit]');
    assert.doesNotMatch(new URL(asst.url()).pathname, /^\/signin/, 'signed in once verified');
    await enrolOnPage(asst, {});
    await asst.goto('/pro/agenda');
    assert.match(asst.url(), /\/pro\/agenda/);
    // Free times from the week after the patient's: wholly to come, whatever today is.
    const freeWeek = `/pro/agenda?view=week&date=${new Date(Date.parse(`${patientDay}T12:00:00Z`) + 7 * 864e5).toISOString().slice(0, 10)}`;
    await asst.goto(freeWeek);
    const free = asst.locator('.item.free a').first();
    await Promise.all([asst.waitForURL(/\/pro\/agenda\/book/), free.click()]);
    await visit(asst, 'desk-book');
    await asst.fill('#patient_name', 'Marcel Téléphone');
    await asst.fill('#patient_phone', '+33 6 12 34 56 78');
    await submit(asst, '#new-patient button[type=submit]');
    assert.match(await asst.locator('.desk').innerText(), /Marcel Téléphone/);
    const bookedDay = asst.url();

    // The practice's directory finds him by the start of his name and by his number
    // written another way; a second booking picks him instead of making a twin.
    await asst.goto('/pro/patients?q=marc');
    await visit(asst, 'directory-search');
    assert.equal(await asst.locator('#directory-results tbody tr', { hasText: 'Marcel Téléphone' }).count(), 1);
    await asst.goto('/pro/patients?q=' + encodeURIComponent('06 12 34 56 78'));
    assert.equal(await asst.locator('#directory-results tbody tr').count(), 1);
    await asst.goto(freeWeek);
    const later = asst.locator('.item.free a').nth(1);
    await Promise.all([asst.waitForURL(/\/pro\/agenda\/book/), later.click()]);
    await asst.fill('#q', 'Télé');
    await submit(asst, 'form[role=search] button[type=submit]');
    await visit(asst, 'desk-book-pick');
    await submit(asst, '#directory-picks button[type=submit]');
    assert.equal(await asst.locator('.item.appointment', { hasText: 'Marcel Téléphone' }).count() >= 1, true);
    await asst.goto('/pro/patients?q=marcel');
    assert.equal(await asst.locator('#directory-results tbody tr').count(), 1, 'one entry, not two');
    await asst.goto(bookedDay);

    // The appointment page and the patient's history.
    await asst.locator('.item.appointment a', { hasText: 'Marcel Téléphone' }).first().click();
    await asst.waitForURL(/\/pro\/appointments\//);
    await visit(asst, 'desk-appointment');
    await asst.click('main a[href^="/pro/patients/"]');
    await asst.waitForURL(/\/pro\/patients\//);
    assert.match(await asst.locator('main').innerText(), /\+33612345678/);

    // Statuses from the day list, one click each (forms, no script needed): in words and an
    // icon with their time, an undo, and the day's figures.
    await asst.goto(bookedDay);
    const marcel = () => asst.locator('.item.appointment', { hasText: 'Marcel Téléphone' }).first();
    const step = async (status) => {
      await Promise.all([asst.waitForNavigation(), marcel().locator(`form:has(input[name=status][value=${status}]) button`).click()]);
    };
    await step('arrived');
    assert.match(await marcel().locator('.visit').innerText(), /Arrivé à \d\d:\d\d/);
    await step('in_consultation');
    await step('done');
    assert.match(await marcel().locator('.visit').innerText(), /Terminé à \d\d:\d\d/);
    assert.match(await asst.locator('.day-counts').first().innerText(), /Terminés\s*1/);
    await visit(asst, 'desk-day-statuses');
    await step('in_consultation'); // undo of "done"
    assert.match(await marcel().locator('.visit').innerText(), /En consultation à/);
    assert.match(await asst.locator('.day-counts').first().innerText(), /Arrivés\s*1/);
    await marcel().locator('a').first().click();
    await asst.waitForURL(/\/pro\/appointments\//);
    assert.match(await asst.locator('.visit-trail').innerText(), /Terminé à .* par vous/);
    await visit(asst, 'desk-appointment-statuses');

    // Marcel calls again from his landline: a second record, then merged into the first
    // from his page, after a confirmation that says what happens.
    await asst.goto(freeWeek);
    await Promise.all([asst.waitForURL(/\/pro\/agenda\/book/), asst.locator('.item.free a').nth(2).click()]);
    await asst.fill('#patient_name', 'Marcel Téléphone');
    await asst.fill('#patient_phone', '01 43 21 65 87');
    await submit(asst, '#new-patient button[type=submit]');
    await asst.goto('/pro/patients?q=marcel');
    assert.equal(await asst.locator('#directory-results tbody tr').count(), 2, 'another number, another record');
    await asst.locator('#directory-results a').first().click();
    await asst.waitForURL(/\/pro\/patients\//);
    await asst.click('#merge-link');
    await asst.waitForURL(/\/merge$/);
    await asst.fill('#q', 'marcel');
    await submit(asst, 'form[role=search] button[type=submit]');
    await visit(asst, 'patient-merge-search');
    assert.equal(await asst.locator('#merge-candidates tbody tr').count(), 1, 'not the record itself');
    await asst.locator('#merge-candidates a').click();
    await asst.waitForURL(/other=/);
    assert.match(await asst.locator('#merge-confirm').innerText(), /01 ?43 ?21 ?65 ?87|0143216587/);
    await visit(asst, 'patient-merge-confirm');
    await submit(asst, '#merge-confirm button[type=submit]');
    assert.match(await asst.locator('body').innerText(), /n’en font plus qu’un/);
    await asst.goto('/pro/patients?q=marcel');
    assert.equal(await asst.locator('#directory-results tbody tr').count(), 1, 'one record again');

    // Nothing else: not the team, not the profile.
    const team = await asst.goto('/pro/team');
    assert.equal(team.status(), 403);
    const profile = await asst.goto('/pro/onboarding/profile');
    assert.equal(profile.status(), 403);
    assert.deepEqual(thirdPartyRequests(asst), []);
  } finally {
    await pro.context().close();
    await asst.context().close();
  }
});

test('the language follows Accept-Language and the switcher; French by default', async () => {
  for (const [locale, lang] of [['de-DE', 'de'], ['it-IT', 'it'], ['en-US', 'en'], ['ja-JP', 'fr']]) {
    const page = await newPage(browser, { locale, baseURL: server.url });
    try {
      await page.goto('/');
      assert.equal(await page.getAttribute('html', 'lang'), lang, locale);
    } finally {
      await page.context().close();
    }
  }
  const page = await newPage(browser, { locale: 'de-DE', baseURL: server.url });
  try {
    await page.goto('/search?q=Testeur');
    const german = await page.locator('main').innerText();
    await Promise.all([page.waitForNavigation(), page.click('.langs a[hreflang=it]')]);
    assert.equal(await page.getAttribute('html', 'lang'), 'it');
    assert.match(page.url(), /\/search\?q=Testeur/, 'the switcher comes back to the same page');
    assert.notEqual(await page.locator('main').innerText(), german);
    await page.goto(publicPath);
    assert.equal(await page.getAttribute('html', 'lang'), 'it', 'the choice is remembered');
    await visit(page, 'practitioner-it');
  } finally {
    await page.context().close();
  }
});
