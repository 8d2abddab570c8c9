// An official account in the app: she looks the city up (its badge checked
// on her device), follows it, and sees the badge on the chat; the city's
// vaccination slots show as buttons and a click books one, the answer
// appearing in the chat as her own message; the city's warning shows as a
// banner until dismissed; she unfollows and asks the city to erase.
//
//   APP_URL=… NOT_OFFICIAL=bob HANDLE=city.shibuya ORGANISATION="Shibuya City" \
//     TEXT="Choose a slot" CHOICE=tue-1430 LABEL="Tue 14:30" \
//     ANNOUNCEMENT="Typhoon: …" node tests/browser/official.mjs
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

run('official', async ({ pages, state }) => {
  const url = need('APP_URL');
  const handle = need('HANDLE');
  const organisation = need('ORGANISATION');
  const text = need('TEXT');
  const choice = need('CHOICE');
  const label = need('LABEL');
  const warning = need('ANNOUNCEMENT');
  state.browser = await launch();
  const page = await openApp(state.browser, url);
  Object.assign(pages, { alice: page });

  // Someone who is no official account is told so, and offered nothing.
  await page.click(sel('official-open'));
  await page.fill(sel('official-handle'), need('NOT_OFFICIAL'));
  await page.click(sel('official-lookup'));
  await page.waitForSelector(sel('official-none'), { timeout: 10000 })
    .catch(() => { throw new Error('an account without a badge is not said to be one'); });
  assert(await page.locator(sel('official-follow')).count() === 0, 'an account without a badge can be followed');

  // The city's badge, checked on the device, then following it.
  await page.fill(sel('official-handle'), '@' + handle);
  await page.click(sel('official-lookup'));
  await page.waitForSelector(sel('official-follow'), { timeout: 10000 })
    .catch(() => { throw new Error('the city cannot be followed'); });
  const named = await page.textContent(`${sel('official-result')} ${sel('official-organisation')}`);
  assert(named.includes(organisation), `the badge names "${named}"`);
  await page.click(sel('official-follow'));
  await page.waitForFunction(() => !!document.querySelector('[data-test="conversation"]').dataset.loaded, null, { timeout: 15000 })
    .catch(() => { throw new Error('following did not open the chat'); });
  const chat = await page.evaluate(() => document.querySelector('[data-test="conversation"]').dataset.loaded);
  await page.waitForSelector(`${sel('official-box')} ${sel('official-badge')}`, { timeout: 10000 })
    .catch(() => { throw new Error('the chat does not show the badge'); });
  await page.waitForSelector(sel('chat-item', `[data-chat="${chat}"] [data-test="official-tag"]`), { timeout: 10000 })
    .catch(() => { throw new Error('the chat list does not mark the official chat'); });
  console.log(JSON.stringify({ followed: chat }));

  // The city accepts and sends its card; a click answers it.
  const card = page.locator(sel('message'), { hasText: text });
  await card.waitFor({ timeout: 30000 }).catch(() => { throw new Error('the card did not arrive'); });
  const buttons = card.locator(sel('card-button'));
  assert(await buttons.count() >= 2, 'the card shows its buttons');
  const pick = card.locator(`${sel('card-button')}[data-choice="${choice}"]`);
  assert((await pick.textContent()).includes(label), 'the button shows its label');
  await pick.click();
  const answer = page.locator(`${sel('message', '.mine')}`, { hasText: label });
  await answer.waitFor({ timeout: 10000 }).catch(() => { throw new Error('the answer did not appear as my message'); });
  const note = await answer.locator(sel('message-answer')).textContent();
  assert(/#\d+/.test(note), `the answer says which card it answers: ${note}`);

  // The city's warning, checked on the device, shows until dismissed.
  await page.waitForSelector(sel('announcement-banner'), { state: 'visible', timeout: 30000 })
    .catch(() => { throw new Error('the announcement is not shown'); });
  const shown = await page.textContent(sel('announcement-text'));
  assert(shown === warning, `the banner shows "${shown}"`);
  await page.click(sel('announcement-dismiss'));
  assert(await page.isHidden(sel('announcement-banner')), 'the banner stays after it is dismissed');

  // Unfollowing, asking the city to erase what she sent it.
  await page.check(sel('official-erase'));
  await page.click(sel('official-unfollow'));
  await page.click(sel('official-unfollow-confirm'));
  await page.waitForSelector(sel('official-unfollowed'), { timeout: 15000 })
    .catch(() => { throw new Error('unfollowing did not finish'); });
  await page.waitForSelector(sel('inactive'), { state: 'visible', timeout: 10000 })
    .catch(() => { throw new Error('the chat is not shown as left'); });
  console.log(JSON.stringify({ answered: choice, unfollowed: handle }));
}, { timeoutMs: 120000 });
