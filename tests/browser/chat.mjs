// Two people, two device apps, one chat, in real browsers.
//
//   ALICE_URL=http://127.0.0.1:P1/open?secret=… BOB_URL=http://127.0.0.1:P2/open?secret=… \
//   ALICE_HANDLE=alice BOB_HANDLE=bob node tests/browser/chat.mjs
//
// Alice starts a chat with Bob from the new-chat form; Bob's page shows it
// without a reload; Alice's "hello bob" reaches Bob's page (measured, at most
// 1000 ms) with an unread badge while Bob has the chat closed; opening it
// clears the badge; Bob's reply reaches Alice; markup in a message is shown
// as text. Prints a JSON line with the timings.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

const LIVE_LIMIT_MS = 1000;

run('chat', async ({ pages, state }) => {
  const aliceUrl = need('ALICE_URL');
  const bobUrl = need('BOB_URL');
  const aliceHandle = need('ALICE_HANDLE');
  const bobHandle = need('BOB_HANDLE');

  state.browser = await launch();
  const [alice, bob] = await Promise.all([
    openApp(state.browser, aliceUrl, { locale: 'en-US' }),
    openApp(state.browser, bobUrl, { locale: 'en-US' }),
  ]);
  pages.alice = alice;
  pages.bob = bob;
  const firstRender = await Promise.all([alice, bob].map((p) => p.evaluate(() => window.__kizuna.firstRenderMs)));
  assert(firstRender.every((v) => typeof v === 'number'), `firstRenderMs not set: ${firstRender}`);

  // Alice starts the chat from the form.
  const chatName = `Browser test ${Date.now()}`;
  await alice.click(sel('new-chat'));
  await alice.fill(sel('new-chat-handles'), bobHandle);
  await alice.fill(sel('new-chat-name'), chatName);
  await alice.click(sel('new-chat-submit'));
  const conversation = sel('conversation');
  // Either the new chat opens or the form says why not.
  await alice.waitForFunction(
    (s) => {
      const c = document.querySelector(s);
      const err = document.querySelector('#new-chat-form [data-test="error"]');
      return (c && c.dataset.loaded && c.dataset.loaded === c.dataset.openChat) || (err && err.textContent);
    },
    conversation, { timeout: 15000 });
  const formError = await alice.locator(`#new-chat-form ${sel('error')}`).textContent();
  assert(!formError, `alice: the new-chat form says: ${formError}`);
  const chat = await alice.getAttribute(conversation, 'data-open-chat');
  assert(chat, 'alice: no chat open after the new-chat form');
  const aliceItem = sel('chat-item', `[data-chat="${chat}"]`);
  await alice.waitForSelector(aliceItem, { timeout: 5000 });
  assert((await alice.textContent(aliceItem)).includes(chatName), 'alice: the chat list does not show the chat name');

  // Bob's page shows the chat without a reload.
  const bobItem = sel('chat-item', `[data-chat="${chat}"]`);
  await bob.waitForSelector(bobItem, { timeout: 10000 }).catch(() => {
    throw new Error(`bob's page did not show the new chat ${chat} within 10 s`);
  });

  // Alice says hello; Bob, with the chat closed, sees it in his list.
  await alice.fill(sel('composer'), 'hello bob');
  const t0 = Date.now();
  await alice.press(sel('composer'), 'Enter');
  const seenHello = bob.waitForFunction(
    ({ item, text }) => {
      const el = document.querySelector(item);
      return el && el.querySelector('[data-test="chat-last"]') && el.textContent.includes(text);
    },
    { item: bobItem, text: 'hello bob' }, { polling: 'raf', timeout: 10000 });
  // The sent message shows on Alice's side at once, and the composer empties.
  await alice.waitForFunction(
    () => [...document.querySelectorAll('[data-test="message-text"]')].some((e) => e.textContent === 'hello bob'),
    null, { polling: 'raf', timeout: 2000 });
  assert((await alice.inputValue(sel('composer'))) === '', 'alice: the composer was not emptied by Enter');
  await seenHello.catch(() => { throw new Error("bob's page did not show alice's message within 10 s"); });
  const liveMs = Date.now() - t0;
  console.log(`bob saw alice's message after ${liveMs} ms`);
  assert(liveMs <= LIVE_LIMIT_MS, `bob saw alice's message after ${liveMs} ms, more than ${LIVE_LIMIT_MS} ms`);
  const aliceError = await alice.locator(`${conversation} ${sel('error')}`).textContent();
  assert(!aliceError, `alice: error shown after sending: ${aliceError}`);

  // Unread badge on Bob's side while the chat is not open.
  const badge = `${bobItem} ${sel('unread-badge')}`;
  await bob.waitForSelector(badge, { timeout: 3000 }).catch(() => {
    throw new Error("bob: no unread badge on the chat he hasn't opened");
  });
  const itemText = await bob.textContent(bobItem);
  assert(!/undefined|null|NaN|\[object/.test(itemText), `bob: the chat item reads ${JSON.stringify(itemText)}`);
  const badgeText = (await bob.textContent(badge)).trim();
  assert(badgeText === '1', `bob: unread badge says ${JSON.stringify(badgeText)}, expected "1"`);

  // Bob opens the chat (keyboard: focus + Enter): the message is there, the badge goes.
  await bob.focus(bobItem);
  await bob.keyboard.press('Enter');
  await bob.waitForFunction(
    (chatId) => document.querySelector('[data-test="conversation"]').dataset.loaded === chatId,
    chat, { timeout: 10000 });
  const hello = bob.locator(`${conversation} ${sel('message')}`, { hasText: 'hello bob' });
  await hello.waitFor({ timeout: 3000 });
  const sender = await hello.locator(sel('message-sender')).textContent().catch(() => null);
  // The sender's display name (carried inside the message) and handle.
  const aliceName = process.env.ALICE_NAME;
  const expected = aliceName ? `${aliceName} (@${aliceHandle})` : aliceHandle;
  assert(sender === expected, `bob: the message's sender shows ${JSON.stringify(sender)}, expected ${JSON.stringify(expected)}`);
  await bob.waitForSelector(badge, { state: 'detached', timeout: 3000 }).catch(() => {
    throw new Error('bob: the unread badge stayed after opening the chat');
  });

  // Bob replies with Enter; Alice (chat open) sees it.
  await bob.fill(sel('composer'), 'hi alice');
  const t1 = Date.now();
  await bob.press(sel('composer'), 'Enter');
  await alice.waitForFunction(
    () => [...document.querySelectorAll('[data-test="conversation"] [data-test="message"]')]
      .some((e) => e.querySelector('[data-test="message-text"]').textContent === 'hi alice' && !e.classList.contains('mine')),
    null, { polling: 'raf', timeout: 10000 }).catch(() => { throw new Error("alice's page did not show bob's reply within 10 s"); });
  const replyMs = Date.now() - t1;
  console.log(`alice saw bob's reply after ${replyMs} ms`);

  // Markup is text. Bob has the chat open: it appears in the conversation.
  const evil = '<img src=x onerror=alert(1)>';
  await alice.fill(sel('composer'), evil);
  const t2 = Date.now();
  await alice.press(sel('composer'), 'Enter');
  await bob.waitForFunction(
    (text) => [...document.querySelectorAll('[data-test="conversation"] [data-test="message-text"]')].some((e) => e.textContent === text),
    evil, { polling: 'raf', timeout: 10000 }).catch(() => { throw new Error("bob's page did not show the markup message as text"); });
  const openLiveMs = Date.now() - t2;
  for (const [who, page] of [['alice', alice], ['bob', bob]]) {
    await page.waitForFunction(
      (text) => [...document.querySelectorAll('[data-test="message-text"]')].some((e) => e.textContent === text),
      evil, { timeout: 3000 });
    const imgs = await page.locator(`${conversation} img`).count();
    assert(imgs === 0, `${who}: the message's markup became ${imgs} <img> element(s)`);
    assert(page.dialogs.length === 0, `${who}: a dialog opened: ${page.dialogs.join(', ')}`);
  }
  // A message arriving in the open, focused chat leaves no badge.
  await bob.waitForTimeout(500);
  assert((await bob.locator(badge).count()) === 0, 'bob: an unread badge appeared on the chat he has open');

  // Virtualised list exposes its row count.
  const rows = await bob.evaluate(() => window.__kizuna.renderedRows());
  assert(rows >= 3, `bob: renderedRows() is ${rows}, expected at least 3`);

  // README_SHOTS=dir: keep what bob's page looks like, for the README.
  if (process.env.README_SHOTS) {
    await bob.screenshot({ path: `${process.env.README_SHOTS}/app-chat.png` });
  }
  console.log(JSON.stringify({
    first_render_ms: Math.round(Math.max(...firstRender)),
    live_ms: liveMs,
    reply_ms: replyMs,
    open_live_ms: openLiveMs,
  }));
});
