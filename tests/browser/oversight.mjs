// The staff console's oversight, in real browsers: a break-glass read
// raises an alert and leaves a review that someone else completes; a
// moderator decides a report; a sign-out ends the session.
//
//   SEC_URL=… SEC_ID=… SEC_PASSWORD=… SEC_TOTP=… \
//   AUD_URL=… AUD_ID=… AUD_PASSWORD=… AUD_TOTP=… \
//   MOD_URL=… MOD_ID=… MOD_PASSWORD=… MOD_TOTP=… \
//   SUBJECT=alice REPORTED_TEXT='…' node tests/browser/oversight.mjs
//
// Each *_URL is the `/open?secret=` address a `kizuna staff console`
// printed. sec breaks the glass over SUBJECT's phone (approved at once, no
// second person) and may not review it; aud sees the alert and completes
// the review; mod opens the report queue, reads the reported message and
// restricts its sender for a day; aud signs out. Prints a JSON line.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

async function login(page, who, prefix) {
  const id = need(`${prefix}_ID`);
  await page.fill(sel('login-staff-id'), id);
  await page.fill(sel('login-password'), need(`${prefix}_PASSWORD`));
  await page.fill(sel('login-totp'), need(`${prefix}_TOTP`));
  await page.click(sel('login-submit'));
  await page.waitForSelector(sel('whoami'), { state: 'visible', timeout: 15000 }).catch(async () => {
    const err = await page.locator(sel('login-error')).textContent().catch(() => '');
    throw new Error(`${who}: sign-in did not finish (${err || 'no error shown'})`);
  });
  return id;
}

// Opens a section (which reloads it) and waits for its list or its
// "nothing here" line.
async function open(page, section, list) {
  await page.click(sel(`nav-${section}`));
  await page.waitForSelector(`${sel(`section-${section}`)}:visible`, { timeout: 10000 });
  if (list) await page.waitForSelector(sel(list), { timeout: 10000 });
}

function failure(page, scope) {
  return async () => {
    const err = await page.locator(`${scope} ${sel('error')}`).first().textContent().catch(() => '');
    return err || 'no error shown';
  };
}

run('oversight', async ({ pages, state }) => {
  const subject = need('SUBJECT');
  const reportedText = need('REPORTED_TEXT');
  state.browser = await launch();
  const ready = `${sel('login-form')}:visible`;
  const [sec, aud, mod] = await Promise.all([
    openApp(state.browser, need('SEC_URL'), { ready }),
    openApp(state.browser, need('AUD_URL'), { ready }),
    // The moderator works at a phone's width.
    openApp(state.browser, need('MOD_URL'), { ready, viewport: { width: 390, height: 800 } }),
  ]);
  Object.assign(pages, { sec, aud, mod });
  const secId = await login(sec, 'sec', 'SEC');
  const audId = await login(aud, 'aud', 'AUD');
  await login(mod, 'mod', 'MOD');

  // sec breaks the glass: approved at once, and live.
  await open(sec, 'grants');
  await sec.fill(sel('grant-subjects'), subject);
  await sec.check(`${sel('grant-fields')} input[value="phone"]`);
  await sec.selectOption(sel('grant-purpose'), 'INCIDENT_RESPONSE');
  await sec.fill(sel('grant-ticket'), 'INC-7');
  await sec.fill(sel('grant-reason'), `account takeover in progress on ${subject}`);
  await sec.fill(sel('grant-duration'), '30');
  await sec.check(sel('grant-break-glass'));
  await sec.click(sel('grant-submit'));
  await sec.waitForSelector(sel('grant-sent'), { state: 'visible', timeout: 10000 }).catch(async () => {
    throw new Error(`sec: the break-glass request was not sent (${await failure(sec, sel('grant-form'))()})`);
  });
  const grantId = await sec.evaluate(() => {
    const it = document.querySelector('[data-test="grant-item"][data-mine="true"][data-state="approved"][data-live="true"]');
    return it ? it.dataset.grant : null;
  });
  assert(grantId, 'sec: the break-glass grant is not shown approved and live at once');

  // Nobody reviews their own break-glass.
  await open(sec, 'reviews', 'reviews-list');
  const ownItem = sel('review-item', `[data-grant="${grantId}"]`);
  await sec.waitForSelector(`${ownItem}[data-done="false"]`, { timeout: 10000 })
    .catch(() => { throw new Error(`sec: no open review of ${grantId}`); });
  assert(await sec.locator(`${ownItem} ${sel('review-submit')}`).count() === 0,
    'sec: the page offers sec a review of sec\'s own break-glass');

  // aud sees the alert and completes the review, by keyboard.
  await open(aud, 'alerts', 'alerts-list');
  const alert = await aud.evaluate((who) => [...document.querySelectorAll('[data-test="alert-item"][data-kind="break_glass"]')]
    .some((li) => li.textContent.includes(who)), secId);
  assert(alert, `aud: no break-glass alert naming ${secId}`);
  await open(aud, 'reviews', 'reviews-list');
  const item = sel('review-item', `[data-grant="${grantId}"]`);
  await aud.waitForSelector(`${item}[data-done="false"]`, { timeout: 10000 })
    .catch(() => { throw new Error(`aud: no open review of ${grantId}`); });
  await aud.check(`${item} ${sel('review-justified-yes')}`);
  await aud.fill(`${item} ${sel('review-note')}`, 'confirmed with the person: INC-7');
  await aud.focus(`${item} ${sel('review-submit')}`);
  await aud.keyboard.press('Enter');
  await aud.waitForSelector(`${item}[data-done="true"]`, { timeout: 10000 }).catch(async () => {
    throw new Error(`aud: the review of ${grantId} was not completed (${await failure(aud, item)()})`);
  });
  const reviewed = await aud.textContent(item);
  assert(reviewed.includes(audId), `aud: the completed review does not name its reviewer ("${reviewed}")`);

  // mod decides the report: the reported message is shown, the sender is
  // restricted for a day.
  await open(mod, 'reports', 'reports-list');
  const reportId = await mod.evaluate(() => {
    const it = document.querySelector('[data-test="report-item"][data-state="open"]');
    return it ? it.dataset.report : null;
  });
  assert(reportId, 'mod: no open report in the queue');
  await mod.click(`${sel('report-item', `[data-report="${reportId}"]`)} ${sel('report-open')}`);
  const detail = sel('report-detail', `[data-report="${reportId}"]`);
  await mod.waitForSelector(detail, { timeout: 10000 }).catch(async () => {
    throw new Error(`mod: ${reportId} did not open (${await failure(mod, sel('reports-list'))()})`);
  });
  const shown = await mod.textContent(`${detail} ${sel('report-messages')} li.reported`);
  assert(shown.includes(reportedText), `mod: the reported message shows "${shown}", not "${reportedText}"`);
  await mod.selectOption(sel('report-resolve-action'), 'restrict');
  await mod.fill(sel('report-resolve-days'), '1');
  await mod.fill(sel('report-resolve-reason'), 'a threat against another person');
  await mod.click(sel('report-resolve-submit'));
  await mod.waitForSelector(`${detail}[data-state="resolved"]`, { timeout: 10000 }).catch(async () => {
    throw new Error(`mod: ${reportId} was not resolved (${await failure(mod, detail)()})`);
  });

  // aud signs out: back to the login form.
  await aud.click(sel('logout'));
  await aud.waitForSelector(`${sel('login-form')}:visible`, { timeout: 10000 })
    .catch(() => { throw new Error('aud: signing out did not return to the login form'); });
  const notice = await aud.locator(sel('login-error')).textContent();
  assert(!notice, `aud: signing out says "${notice}"`);

  console.log(JSON.stringify({ grant_id: grantId, report_id: reportId, reviewed_by: audId }));
});
