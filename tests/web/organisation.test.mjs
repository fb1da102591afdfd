// A group practice (issue 18 point 4) in the browser: two practitioners in one
// organisation and an assistant invited from the organisation page. The assistant first
// runs only the inviting practitioner's agenda (the other one's booking page is unknown to
// them), then, once the practitioner ticks both agendas on the organisation page, sees
// both practitioners' days side by side in the grid and can book in each. The colleague
// sees the other's column read-only. axe-core at 390 and 1280 px on every page.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, newPage, checkA11y, shoot, apiOk, callApi, enrolMfa, PHONE, DESKTOP } from './lib/harness.mjs';
import { startMailbox } from './lib/mailbox.mjs';

const ZONE = 'Europe/Paris';
const stamp = Date.now();
const password = 'correct horse battery';
const one = { email: `org.one.${stamp}@example.org`, name: 'Dr Odile Premier' };
const two = { email: `org.two.${stamp}@example.org`, name: 'Dr Denis Second' };
const anne = { email: `org.anne.${stamp}@example.org`, name: 'Anne Assistante' };
let server;
let browser;
let mailbox;
let day;
let agendaOne;
let agendaTwo;
let orgId;

const api = (method, path, body, token) => apiOk(server.url, method, path, { body, token });

async function practitioner(who, place) {
  await api('POST', '/api/v1/accounts', { email: who.email, password, name: who.name, role: 'practitioner' });
  who.token = (await api('POST', '/api/v1/sessions', { email: who.email, password })).token;
  await enrolMfa(server.url, who);
  await api('PUT', '/api/v1/practitioner/profile', { name: who.name, specialty: 'general-practitioner' }, who.token);
  const p = await api('POST', '/api/v1/places', { name: place, address: '2 rue du Port', postcode: '69002', city: 'Lyon', country: 'FR', lat: 45.76, lon: 4.83, timezone: ZONE }, who.token);
  const id = (await api('POST', '/api/v1/agendas', { place_id: p.id, holidays: null }, who.token)).id;
  const motive = (await api('POST', `/api/v1/agendas/${id}/motives`, { name: 'Consultation', duration_min: 30 }, who.token)).id;
  await api('POST', `/api/v1/agendas/${id}/opening-rules`, { weekdays: [1, 2, 3, 4, 5, 6, 7], start: '08:00', end: '18:00', motive_ids: [motive] }, who.token);
  return { id, motive };
}

before(async () => {
  mailbox = await startMailbox();
  server = await startServer({ demo: false, args: mailbox.args });
  browser = await launchBrowser();
  agendaOne = await practitioner(one, 'Cabinet Premier');
  agendaTwo = await practitioner(two, 'Cabinet Second');
  day = new Date(Date.now() + 24 * 3600 * 1000).toLocaleDateString('sv-SE', { timeZone: ZONE });
  orgId = (await api('POST', '/api/v1/practice/organisations', { name: 'Maison de santé du Port' }, one.token)).id;
  const inv = await api('POST', `/api/v1/practice/organisations/${orgId}/invitations`, { kind: 'colleague' }, one.token);
  await api('POST', '/api/v1/practice/organisations/join', { token: inv.token }, two.token);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  mailbox?.stop();
});

async function deskPage(who) {
  const page = await newPage(browser, { locale: 'en-GB', baseURL: server.url });
  await page.context().addCookies([{ name: 'careslot_session', value: who.token, url: server.url }]);
  return page;
}

/** axe at both widths, then the screenshots. */
async function visit(page, label) {
  for (const size of [PHONE, DESKTOP]) {
    await page.setViewportSize(size);
    await checkA11y(page, `${label}-${size.width}`);
  }
  await shoot(page, label);
}

async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

test('an assistant of a group practice runs the agendas ticked for them, side by side', async () => {
  const pro = await deskPage(one);
  const asst = await newPage(browser, { locale: 'en-GB', baseURL: server.url });
  try {
    // The organisation page: its two practitioners; an assistant invited from it.
    await pro.goto(`/pro/organisation?org=${orgId}`);
    assert.match(await pro.locator('#org-members').innerText(), /Dr Odile Premier[\s\S]*Dr Denis Second/);
    await visit(pro, 'organisation');
    await submit(pro, `form[action="/pro/organisation/${orgId}/invite-assistant"] button`);
    const link = await pro.inputValue('#invite-link');
    assert.match(link, /\/invite\//);
    await visit(pro, 'organisation-link');

    await asst.goto(new URL(link).pathname);
    await asst.fill('#name', anne.name);
    await asst.fill('#email', anne.email);
    await asst.fill('#password', 'assistant password 1');
    await submit(asst, 'main form button[type=submit]');
    await asst.goto(await mailbox.verificationLinkFor(anne.email));
    await submit(asst, 'form[action="/email-verification"] button[type=submit]');
    anne.token = (await api('POST', '/api/v1/sessions', { email: anne.email, password: 'assistant password 1' })).token;
    await enrolMfa(server.url, anne);
    await asst.context().addCookies([{ name: 'careslot_session', value: anne.token, url: server.url }]);

    // At first: the inviting practitioner's agenda only; the other's is unknown.
    await asst.goto(`/pro/grid?date=${day}`);
    assert.equal(await asst.locator('section.tg-col').count(), 1);
    assert.equal(await asst.locator(`ol[data-agenda="${agendaTwo.id}"]`).count(), 0);
    await visit(asst, 'org-grid-one');
    const refused = await asst.goto(`/pro/agenda/book?agenda=${agendaTwo.id}&motive=${agendaTwo.motive}&start=${encodeURIComponent(`${day}T10:00:00+01:00`)}`);
    assert.equal(refused.status(), 404);
    const { status } = await callApi(server.url, 'GET', `/api/v1/agendas/${agendaTwo.id}/appointments?from=${day}&to=${day}`, { token: anne.token });
    assert.equal(status, 404);

    // Dr Premier ticks Dr Second's agenda too.
    await pro.goto(`/pro/organisation?org=${orgId}`);
    const box = pro.locator(`input[type=checkbox][value="${agendaTwo.id}"]`);
    assert.equal(await box.isChecked(), false);
    assert.equal(await pro.locator(`input[type=checkbox][value="${agendaOne.id}"]`).isChecked(), true);
    await box.check();
    await visit(pro, 'organisation-rights');
    await submit(pro, 'form[action$="/rights"] button[type=submit]');
    assert.match(await pro.textContent('.flash'), /rights/);

    // Both days side by side, each with its practitioner's name; the assistant books in the
    // second one from its free slot.
    await asst.goto(`/pro/grid?date=${day}`);
    assert.equal(await asst.locator('section.tg-col').count(), 2, 'both practitioners side by side');
    assert.match(await asst.locator('section.tg-col').nth(0).locator('h2').innerText(), /Dr Odile Premier/);
    assert.match(await asst.locator('section.tg-col').nth(1).locator('h2').innerText(), /Dr Denis Second/);
    await visit(asst, 'org-grid-both');
    const free = asst.locator(`section.tg-col:has(ol[data-agenda="${agendaTwo.id}"]) li.tg-item.free a`).first();
    await Promise.all([asst.waitForURL(/\/pro\/agenda\/book/), free.click()]);
    await asst.fill('#patient_name', 'Paul Groupe');
    await asst.fill('#patient_phone', '+33 6 22 33 44 55');
    await submit(asst, '#new-patient button[type=submit]');
    const booked = await callApi(server.url, 'GET', `/api/v1/agendas/${agendaTwo.id}/appointments?from=${day}&to=${day}`, { token: anne.token });
    assert.equal(booked.status, 200);

    // Dr Second sees Dr Premier's column read-only: no free slot to book, no move.
    const colleague = await deskPage(two);
    try {
      await colleague.goto(`/pro/grid?date=${day}`);
      assert.equal(await colleague.locator('section.tg-col').count(), 2);
      const theirs = colleague.locator(`section.tg-col:has(ol[data-agenda="${agendaOne.id}"])`);
      assert.equal(await theirs.locator('li.tg-item.free a').count(), 0, 'read-only');
      const mine = colleague.locator(`section.tg-col:has(ol[data-agenda="${agendaTwo.id}"])`);
      assert.ok((await mine.locator('li.tg-item', { hasText: 'Paul Groupe' }).count()) >= 1);
      await visit(colleague, 'org-grid-colleague');
    } finally {
      await colleague.close();
    }
  } finally {
    await pro.close();
    await asst.close();
  }
});

test('invitations are mailed when an address is given; removing an assistant and leaving are stated first', async () => {
  const pro = await deskPage(one);
  const other = await deskPage(two);
  const invitee = `org.invitee.${stamp}@example.org`;
  try {
    // An assistant invited with an address: the link to copy, and the same link mailed.
    await pro.goto(`/pro/organisation?org=${orgId}`);
    await pro.fill('#assistant-email', invitee);
    await submit(pro, `form[action="/pro/organisation/${orgId}/invite-assistant"] button`);
    const link = await pro.inputValue('#invite-link');
    assert.match(await pro.textContent('#link-h + p ~ p.ok'), /also sent by email/);
    await visit(pro, 'organisation-mailed');
    const deadline = Date.now() + 30_000;
    let mailed;
    while (!mailed) {
      mailed = mailbox.mails().find((m) => m.split('\n', 1)[0].trim() === invitee);
      assert.ok(mailed || Date.now() < deadline, `no invitation mailed to ${invitee}`);
      if (!mailed) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(mailed.includes(new URL(link).pathname), 'the mailed link is the one shown');

    // Removing Anne: what it does is said before it is confirmed.
    const { assistants, practitioners } = await api('GET', `/api/v1/practice/organisations/${orgId}/members`, undefined, one.token);
    const anneId = assistants.find((a) => a.email === anne.email).id;
    await pro.goto(`/pro/organisation?org=${orgId}`);
    await pro.click(`#remove-${anneId} summary`);
    assert.match(await pro.textContent(`#remove-${anneId} p`), /account is closed/);
    await visit(pro, 'organisation-remove-assistant');
    await submit(pro, `#remove-${anneId} button[type=submit]`);
    assert.equal(await pro.locator(`#remove-${anneId}`).count(), 0);
    const status = (await callApi(server.url, 'GET', '/api/v1/me', { token: anne.token })).status;
    assert.equal(status, 401, "the assistant's session ended with the account");

    // Dr Second leaves, after reading what it does.
    const secondId = practitioners.find((p) => p.name === two.name).id;
    await other.goto(`/pro/organisation?org=${orgId}`);
    await other.click(`#member-${secondId} summary`);
    assert.match(await other.textContent(`#member-${secondId} summary`), /Leave this organisation/);
    assert.match(await other.textContent(`#member-${secondId} p`), /Your agendas and appointments stay yours/);
    await visit(other, 'organisation-leave');
    await submit(other, `#member-${secondId} button[type=submit]`);
    assert.match(await other.textContent('.flash'), /You left the organisation/);
    await pro.goto(`/pro/organisation?org=${orgId}`);
    assert.doesNotMatch(await pro.locator('#org-members').innerText(), /Dr Denis Second/);
    assert.equal(await pro.locator('#org-members details').count(), 0, 'the last member has nothing to leave');
  } finally {
    await pro.close();
    await other.close();
  }
});
