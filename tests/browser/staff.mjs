// The staff console, in real browsers: two staff members, a grant, a
// governed read and a breach scope.
//
//   ADMIN_URL=… ADMIN_ID=… ADMIN_PASSWORD=… ADMIN_TOTP=… \
//   SUP_URL=… SUP_ID=… SUP_PASSWORD=… SUP_TOTP=… \
//   SUBJECT=alice FIELD=phone node tests/browser/staff.mjs
//
// ADMIN_URL and SUP_URL are the `/open?secret=` addresses two
// `kizuna staff console` processes printed. Both sign in through the form;
// sup requests a grant over SUBJECT's FIELD and is not offered to approve it;
// admin sees it pending and approves it; sup sees it live, reads SUBJECT and
// sees FIELD and no other field; admin scopes a breach of sup's credentials
// and sees a chart, a total and a regulator draft. Prints a JSON line.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

const PURPOSE = 'LEGAL_REQUEST'; // Purpose::LegalRequest, rename_all = SCREAMING_SNAKE_CASE
const TICKET = 'T-1';

async function login(page, who, id, password, totp) {
  await page.fill(sel('login-staff-id'), id);
  await page.fill(sel('login-password'), password);
  await page.fill(sel('login-totp'), totp);
  await page.click(sel('login-submit'));
  await page.waitForSelector(sel('whoami'), { state: 'visible', timeout: 15000 }).catch(async () => {
    const err = await page.locator(sel('login-error')).textContent().catch(() => '');
    throw new Error(`${who}: sign-in did not finish (${err || 'no error shown'})`);
  });
  const shown = await page.textContent(sel('whoami'));
  assert(shown.includes(id), `${who}: the header shows "${shown}", not the staff id ${id}`);
}

// Opens the grants section (which reloads the list) and waits for it.
async function reloadGrants(page) {
  await page.click(sel('nav-grants'));
  await page.waitForSelector(sel('grants-list', '[data-loaded="true"]'), { state: 'attached', timeout: 10000 });
}

run('staff', async ({ pages, state }) => {
  const adminUrl = need('ADMIN_URL');
  const supUrl = need('SUP_URL');
  const adminId = need('ADMIN_ID');
  const supId = need('SUP_ID');
  const subject = need('SUBJECT');
  const fieldName = need('FIELD');
  state.browser = await launch();
  const ready = `${sel('login-form')}:visible`;
  const [admin, sup] = await Promise.all([
    openApp(state.browser, adminUrl, { ready }),
    openApp(state.browser, supUrl, { ready, viewport: { width: 390, height: 800 } }),
  ]);
  Object.assign(pages, { admin, sup });

  await login(admin, 'admin', adminId, need('ADMIN_PASSWORD'), need('ADMIN_TOTP'));
  await login(sup, 'sup', supId, need('SUP_PASSWORD'), need('SUP_TOTP'));

  // Sup asks for SUBJECT's FIELD.
  await reloadGrants(sup);
  await sup.fill(sel('grant-subjects'), subject);
  await sup.check(`${sel('grant-fields')} input[value="${fieldName}"]`);
  await sup.selectOption(sel('grant-purpose'), PURPOSE);
  await sup.fill(sel('grant-ticket'), TICKET);
  await sup.fill(sel('grant-reason'), `Court order for ${subject}'s ${fieldName}, ticket ${TICKET}`);
  await sup.fill(sel('grant-duration'), '60');
  await sup.click(sel('grant-submit'));
  await sup.waitForSelector(sel('grant-sent'), { state: 'visible', timeout: 10000 }).catch(async () => {
    const err = await sup.locator(`${sel('grant-form')} ${sel('error')}`).textContent().catch(() => '');
    throw new Error(`sup: the request was not sent (${err || 'no error shown'})`);
  });
  const sent = await sup.textContent(sel('grant-sent'));
  const grantId = await sup.evaluate(({ ticket, subj }) => {
    const items = [...document.querySelectorAll('[data-test="grant-item"][data-mine="true"][data-state="pending"]')];
    const it = items.find((li) => li.textContent.includes(ticket) && li.textContent.includes(subj));
    return it ? it.dataset.grant : null;
  }, { ticket: TICKET, subj: subject });
  assert(grantId, `sup: the new request is not listed as pending ("${sent}")`);
  assert(sent.includes(grantId), `sup: the confirmation "${sent}" does not name ${grantId}`);
  const supItem = sel('grant-item', `[data-grant="${grantId}"]`);
  const ownApprove = await sup.locator(`${supItem} ${sel('grant-approve')}`).count();
  assert(ownApprove === 0, 'sup: the page offers to approve sup\'s own request');
  const ownDeny = await sup.locator(`${supItem} ${sel('grant-deny')}`).count();
  assert(ownDeny === 0, 'sup: the page offers to deny sup\'s own request');

  // Admin sees it pending, and approves it.
  await reloadGrants(admin);
  const adminItem = sel('grant-item', `[data-grant="${grantId}"]`);
  await admin.waitForSelector(`${adminItem}[data-state="pending"]`, { timeout: 10000 })
    .catch(() => { throw new Error(`admin: ${grantId} is not listed as pending`); });
  const approve = admin.locator(`${adminItem} ${sel('grant-approve')}`);
  assert(await approve.count() === 1, `admin: ${grantId} offers no approve button`);
  await approve.focus();
  await admin.keyboard.press('Enter');
  await admin.waitForSelector(`${adminItem}[data-state="approved"]`, { timeout: 10000 }).catch(async () => {
    const err = await admin.locator(`${adminItem} ${sel('error')}`).textContent().catch(() => '');
    throw new Error(`admin: ${grantId} was not approved (${err || 'no error shown'})`);
  });

  // Sup sees it live after a refresh.
  await sup.click(sel('grants-refresh'));
  await sup.waitForSelector(`${supItem}[data-state="approved"][data-live="true"]`, { timeout: 10000 })
    .catch(() => { throw new Error(`sup: ${grantId} is not shown approved and live after a refresh`); });
  const revocable = await sup.locator(`${supItem} ${sel('grant-revoke')}`).count();
  assert(revocable === 1, `sup: the live grant ${grantId} offers no revoke`);

  // Sup's governed read: FIELD and nothing else.
  await sup.click(sel('nav-read'));
  await sup.fill(sel('read-handle'), subject);
  await sup.press(sel('read-handle'), 'Enter');
  await sup.waitForSelector(sel('read-result'), { timeout: 10000 }).catch(async () => {
    const err = await sup.locator(`${sel('read-form')} ${sel('error')}`).textContent().catch(() => '');
    throw new Error(`sup: the governed read showed nothing (${err || 'no error shown'})`);
  });
  const read = await sup.evaluate(() => {
    const res = document.querySelector('[data-test="read-result"]');
    return {
      grant: res.dataset.grant,
      logged: (res.querySelector('[data-test="read-logged"]') || {}).textContent || '',
      fields: [...res.querySelectorAll('[data-test="read-field"]')].map((f) => ({ field: f.dataset.field, value: f.querySelector('dd').textContent.trim() })),
    };
  });
  const mine = read.fields.find((f) => f.field === fieldName);
  assert(mine && mine.value, `sup: the read shows no ${fieldName} (fields: ${JSON.stringify(read.fields)})`);
  const others = read.fields.filter((f) => f.field !== fieldName).map((f) => f.field);
  assert(others.length === 0, `sup: the read shows fields that were not granted: ${others.join(', ')}`);
  assert(read.logged.includes(subject), `sup: the read does not say it was recorded in ${subject}'s access log`);

  // Admin scopes a breach of sup's credentials.
  await admin.click(sel('nav-breach'));
  await admin.fill(sel('breach-staff'), supId);
  await admin.click(sel('breach-submit'));
  await admin.waitForSelector(sel('breach-chart'), { timeout: 15000 }).catch(async () => {
    const err = await admin.locator(`${sel('breach-form')} ${sel('error')}`).textContent().catch(() => '');
    throw new Error(`admin: no breach scope was shown (${err || 'no error shown'})`);
  });
  const breach = await admin.evaluate(() => {
    const bars = [...document.querySelectorAll('[data-test="breach-chart"] [data-test="breach-bar"]')];
    return {
      total: Number(document.querySelector('[data-test="breach-total"]').dataset.count),
      bars: bars.map((b) => ({ region: b.dataset.region || null, field: b.dataset.field || null, value: Number(b.dataset.value),
        width: b.querySelector('.bar-fill') ? b.querySelector('.bar-fill').getBoundingClientRect().width : 0 })),
      drafts: [...document.querySelectorAll('[data-test="breach-draft-link"]')].map((a) => ({ region: a.dataset.region, href: a.getAttribute('href') })),
      people: [...document.querySelectorAll('[data-test="breach-person"]')].map((tr) => tr.dataset.handle),
    };
  });
  assert(breach.bars.length >= 1, 'admin: the breach chart has no bars');
  assert(breach.bars.some((b) => b.value >= 1 && b.width > 0), `admin: no bar is drawn with a width (${JSON.stringify(breach.bars)})`);
  assert(breach.bars.some((b) => b.field === fieldName), `admin: the chart has no bar for ${fieldName}`);
  assert(breach.total >= 1, `admin: the breach total is ${breach.total}`);
  assert(breach.people.includes(subject), `admin: ${subject} is not among the affected people`);
  assert(breach.drafts.length >= 1, 'admin: no regulator draft link');
  assert(breach.drafts.every((d) => d.href.includes(`staff_id=${encodeURIComponent(supId)}`)), 'admin: a draft link does not carry the query');

  console.log(JSON.stringify({ grant_id: grantId, read_grant: read.grant, field: fieldName, breach_total: breach.total,
    bars: breach.bars.length, regions: breach.drafts.map((d) => d.region) }));
});
