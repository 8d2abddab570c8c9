// A group chat changes hands while everyone watches, in real browsers.
//
//   ALICE_URL=… BOB_URL=… CAROL_URL=… ALICE_HANDLE=alice BOB_HANDLE=bob CAROL_HANDLE=carol \
//   node tests/browser/group.mjs
//
// Alice starts "Team" with Bob, adds Carol from the members panel; Carol's
// page shows the chat without a reload (accepting it if it arrives as a chat
// request); Alice's "welcome carol" reaches Carol; Alice removes Bob and Bob's
// page shows the chat as no longer his to write in. Prints a JSON line with
// the timings.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

const LIVE_LIMIT_MS = 5000;

async function openChatIn(page, chat) {
  await page.click(sel('chat-item', `[data-chat="${chat}"]`));
  await page.waitForFunction(
    (id) => document.querySelector('[data-test="conversation"]').dataset.loaded === id,
    chat, { timeout: 10000 });
}

function hasText(page, text, timeout) {
  return page.waitForFunction(
    (s) => [...document.querySelectorAll('[data-test="conversation"] [data-test="message-text"]')].some((e) => e.textContent === s),
    text, { polling: 'raf', timeout });
}

run('group', async ({ pages, state }) => {
  const urls = { alice: need('ALICE_URL'), bob: need('BOB_URL'), carol: need('CAROL_URL') };
  const handles = { alice: need('ALICE_HANDLE'), bob: need('BOB_HANDLE'), carol: need('CAROL_HANDLE') };
  state.browser = await launch();
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((who) => openApp(state.browser, urls[who])));
  Object.assign(pages, { alice, bob, carol });

  // Alice starts "Team" with Bob.
  const name = `Team ${Date.now()}`;
  await alice.click(sel('new-chat'));
  await alice.fill(sel('new-chat-handles'), handles.bob);
  await alice.fill(sel('new-chat-name'), name);
  await alice.click(sel('new-chat-submit'));
  await alice.waitForFunction(() => {
    const c = document.querySelector('[data-test="conversation"]');
    return c.dataset.loaded && c.dataset.loaded === c.dataset.openChat;
  }, null, { timeout: 15000 }).catch(async () => {
    const err = await alice.locator(`#new-chat-form ${sel('error')}`).textContent();
    throw new Error(`alice: the chat did not open (${err || 'no error shown'})`);
  });
  const chat = await alice.getAttribute(sel('conversation'), 'data-open-chat');
  const item = sel('chat-item', `[data-chat="${chat}"]`);
  await bob.waitForSelector(item, { timeout: 10000 }).catch(() => { throw new Error("bob's page did not show the new chat"); });
  await openChatIn(bob, chat);
  const bobRequest = await bob.locator(sel('request-banner')).isVisible();
  if (bobRequest) await bob.click(sel('request-accept'));

  // Alice adds Carol from the members panel.
  await alice.click(`${sel('members-panel')} > summary`);
  await alice.waitForSelector(sel('member-item', `[data-handle="${handles.bob}"]`), { timeout: 5000 });
  await alice.fill(sel('add-member-handle'), handles.carol);
  const tAdd = Date.now();
  await alice.press(sel('add-member-handle'), 'Enter');
  await alice.waitForSelector(sel('member-item', `[data-handle="${handles.carol}"]`), { timeout: 10000 }).catch(async () => {
    const err = await alice.locator(`${sel('members-panel')} .error`).textContent();
    throw new Error(`alice: carol did not appear in the members panel (${err || 'no error shown'})`);
  });
  const memberCount = await alice.locator(sel('member-item')).count();
  assert(memberCount === 3, `alice: the members panel lists ${memberCount} people, expected 3`);

  // Carol's page shows the chat live.
  await carol.waitForSelector(item, { timeout: 10000 }).catch(() => { throw new Error("carol's page did not show the chat she was added to"); });
  const carolShownMs = Date.now() - tAdd;
  assert((await carol.textContent(item)).includes(name), "carol: the chat item does not show the chat's name");
  await openChatIn(carol, chat);
  const carolRequest = await carol.locator(sel('request-banner')).isVisible();
  if (carolRequest) {
    // Someone not in her contacts added her: a chat request, accepted here.
    assert(await carol.locator(sel('composer')).isHidden(), 'carol: the composer shows on a chat request');
    await carol.click(sel('request-accept'));
    await carol.waitForSelector(sel('request-banner'), { state: 'hidden', timeout: 5000 });
  }
  await carol.waitForSelector(sel('composer'), { state: 'visible', timeout: 5000 });

  // Alice says welcome; Carol sees it.
  await alice.fill(sel('composer'), 'welcome carol');
  const tSend = Date.now();
  await alice.press(sel('composer'), 'Enter');
  await hasText(carol, 'welcome carol', 10000).catch(() => { throw new Error("carol's page did not show 'welcome carol'"); });
  const welcomeMs = Date.now() - tSend;

  // Alice removes Bob; Bob's page shows the chat as no longer his.
  const remove = alice.locator(sel('member-item', `[data-handle="${handles.bob}"]`)).locator(sel('remove-member'));
  await remove.focus();
  const tRemove = Date.now();
  await alice.keyboard.press('Enter');
  await alice.waitForSelector(sel('member-item', `[data-handle="${handles.bob}"]`), { state: 'detached', timeout: 10000 })
    .catch(() => { throw new Error('alice: bob is still in the members panel after removing him'); });
  await bob.waitForFunction(() => {
    const composer = document.querySelector('[data-test="composer"]');
    const note = document.querySelector('[data-test="inactive"]');
    return composer && composer.offsetParent === null && note && note.offsetParent !== null;
  }, null, { polling: 200, timeout: LIVE_LIMIT_MS }).catch(() => {
    throw new Error(`bob's page did not show the chat as no longer active within ${LIVE_LIMIT_MS / 1000} s`);
  });
  const bobInactiveMs = Date.now() - tRemove;
  const note = (await bob.textContent(sel('inactive'))).trim();
  assert(/no longer a member/.test(note), `bob: the inactive note says ${JSON.stringify(note)}`);
  // Carol still can write.
  assert(await carol.locator(sel('composer')).isVisible(), "carol: the composer went away when bob was removed");

  console.log(JSON.stringify({
    bob_request: bobRequest,
    carol_request: carolRequest,
    carol_shown_ms: carolShownMs,
    welcome_ms: welcomeMs,
    bob_inactive_ms: bobInactiveMs,
  }));
});
