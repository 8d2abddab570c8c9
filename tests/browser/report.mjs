// Reporting a message from the message menu, in real browsers.
//
//   ALICE_URL=… BOB_URL=… ALICE_HANDLE=alice BOB_HANDLE=bob node tests/browser/report.mjs
//
// Alice starts a chat with Bob and sends "buy cheap pills"; Bob opens it,
// opens the message's menu with the keyboard, reports it as spam with a
// note, and sees the confirmation. Prints a JSON line with the report id.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

const TEXT = 'buy cheap pills';

run('report', async ({ pages, state }) => {
  const aliceUrl = need('ALICE_URL');
  const bobUrl = need('BOB_URL');
  need('ALICE_HANDLE');
  const bobHandle = need('BOB_HANDLE');
  state.browser = await launch();
  const [alice, bob] = await Promise.all([openApp(state.browser, aliceUrl), openApp(state.browser, bobUrl)]);
  Object.assign(pages, { alice, bob });

  await alice.click(sel('new-chat'));
  await alice.fill(sel('new-chat-handles'), bobHandle);
  await alice.click(sel('new-chat-submit'));
  await alice.waitForFunction(() => {
    const c = document.querySelector('[data-test="conversation"]');
    return c.dataset.loaded && c.dataset.loaded === c.dataset.openChat;
  }, null, { timeout: 15000 }).catch(() => { throw new Error('alice: the new chat did not open'); });
  const chat = await alice.getAttribute(sel('conversation'), 'data-open-chat');
  await alice.fill(sel('composer'), TEXT);
  await alice.press(sel('composer'), 'Enter');
  await alice.waitForSelector(`${sel('message', '[data-seq]')}:has-text("${TEXT}")`, { timeout: 5000 });
  // Own messages have no report menu.
  const ownMenus = await alice.locator(`${sel('message', '.mine')} ${sel('message-menu')}`).count();
  assert(ownMenus === 0, `alice: ${ownMenus} of her own messages offer the report menu`);

  // Bob opens the chat.
  const item = sel('chat-item', `[data-chat="${chat}"]`);
  await bob.waitForSelector(item, { timeout: 10000 }).catch(() => { throw new Error("bob's page did not show the chat"); });
  await bob.click(item);
  await bob.waitForFunction((id) => document.querySelector('[data-test="conversation"]').dataset.loaded === id, chat, { timeout: 10000 });
  const row = bob.locator(sel('message'), { hasText: TEXT });
  await row.waitFor({ timeout: 10000 });

  // The menu, with the keyboard: focus the ⋯ button, Enter, Enter on "Report…".
  const menuBtn = row.locator(sel('message-menu'));
  await menuBtn.focus();
  await bob.keyboard.press('Enter');
  await bob.waitForSelector(sel('report-open'), { state: 'visible', timeout: 3000 });
  const focused = await bob.evaluate(() => document.activeElement && document.activeElement.dataset.test);
  assert(focused === 'report-open', `bob: the menu opened but focus is on ${focused}`);
  await bob.keyboard.press('Enter');
  await bob.waitForSelector(sel('report-reason'), { state: 'visible', timeout: 3000 });
  const quoted = await bob.textContent(sel('report-dialog'));
  assert(quoted.includes(TEXT), 'bob: the report dialog does not quote the message');

  await bob.selectOption(sel('report-reason'), 'spam');
  await bob.fill(sel('report-note'), 'unsolicited ad from someone I do not know');
  await bob.fill(sel('report-preceding'), '3');
  await bob.click(sel('report-submit'));
  await bob.waitForSelector(sel('report-done'), { state: 'visible', timeout: 10000 }).catch(async () => {
    const err = await bob.locator(`${sel('report-dialog')} .error`).textContent().catch(() => '');
    throw new Error(`bob: no report confirmation (${err || 'no error shown'})`);
  });
  const reportId = await bob.getAttribute(sel('report-done'), 'data-report-id');
  assert(reportId, 'bob: the confirmation carries no report id');
  await bob.click(sel('report-close'));
  await bob.waitForSelector(sel('report-dialog'), { state: 'hidden', timeout: 3000 });

  console.log(JSON.stringify({ chat, report_id: reportId }));
});
