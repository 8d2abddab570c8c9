// An official account in the app: the city's warning shows as a banner
// until dismissed; the city's vaccination slots show as buttons and a
// click books one, the answer appearing in the chat as her own message.
//
//   APP_URL=… CHAT=… TEXT="Choose a slot" CHOICE=tue-1430 LABEL="Tue 14:30" \
//     ANNOUNCEMENT="Typhoon: …" node tests/browser/official.mjs
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

run('official', async ({ pages, state }) => {
  const url = need('APP_URL');
  const chat = need('CHAT');
  const text = need('TEXT');
  const choice = need('CHOICE');
  const label = need('LABEL');
  state.browser = await launch();
  const page = await openApp(state.browser, url);
  Object.assign(pages, { alice: page });

  // The city's warning, checked on the device, shows at once.
  const warning = process.env.ANNOUNCEMENT;
  if (warning) {
    await page.waitForSelector(sel('announcement-banner'), { state: 'visible', timeout: 10000 })
      .catch(() => { throw new Error('the announcement is not shown'); });
    const shown = await page.textContent(sel('announcement-text'));
    assert(shown === warning, `the banner shows "${shown}"`);
    await page.click(sel('announcement-dismiss'));
    assert(await page.isHidden(sel('announcement-banner')), 'the banner stays after it is dismissed');
  }

  const item = sel('chat-item', `[data-chat="${chat}"]`);
  await page.waitForSelector(item, { timeout: 10000 }).catch(() => { throw new Error('the city chat is not listed'); });
  await page.click(item);
  await page.waitForFunction((id) => document.querySelector('[data-test="conversation"]').dataset.loaded === id, chat, { timeout: 10000 });
  const card = page.locator(sel('message'), { hasText: text });
  await card.waitFor({ timeout: 10000 });
  const buttons = card.locator(sel('card-button'));
  assert(await buttons.count() >= 2, 'the card shows its buttons');
  const pick = card.locator(`${sel('card-button')}[data-choice="${choice}"]`);
  assert((await pick.textContent()).includes(label), 'the button shows its label');
  await pick.click();
  const answer = page.locator(`${sel('message', '.mine')}`, { hasText: label });
  await answer.waitFor({ timeout: 10000 }).catch(() => { throw new Error('the answer did not appear as my message'); });
  const note = await answer.locator(sel('message-answer')).textContent();
  assert(/#\d+/.test(note), `the answer says which card it answers: ${note}`);
  console.log(JSON.stringify({ answered: choice }));
});
