// Chat requests: someone not in my contacts puts me in a chat; nothing of it
// can be answered until I accept it, and declining with a block stops them.
//
//   ALICE_URL=… MALLORY_URL=… MALLORY_HANDLE=mallory node tests/browser/requests-chat.mjs
//
// Alice (not in mallory's contacts) starts two chats with mallory. Mallory
// sees the first as a request, with no composer, accepts it and replies;
// declines the second and blocks alice, after which alice's third attempt
// is refused with the node's message.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

async function newChat(page, handle, name) {
  await page.click(sel('new-chat'));
  await page.fill(sel('new-chat-handles'), handle);
  await page.fill(sel('new-chat-name'), name);
  await page.click(sel('new-chat-submit'));
}

/** The chat the page opened after `before` (the one open until then). */
async function opened(page, before = null) {
  await page.waitForFunction((prev) => {
    const c = document.querySelector('[data-test="conversation"]');
    return c.dataset.loaded && c.dataset.loaded === c.dataset.openChat && c.dataset.openChat !== prev;
  }, before, { timeout: 15000 });
  return page.getAttribute(sel('conversation'), 'data-open-chat');
}

run('requests-chat', async ({ pages, state }) => {
  const aliceUrl = need('ALICE_URL');
  const malloryUrl = need('MALLORY_URL');
  const mallory = need('MALLORY_HANDLE');
  state.browser = await launch();
  // The third chat is refused: that answer is expected.
  const [a, m] = await Promise.all([
    openApp(state.browser, aliceUrl, { expectHttp: [[502, '/api/chats']] }),
    openApp(state.browser, malloryUrl),
  ]);
  Object.assign(pages, { alice: a, mallory: m });

  await newChat(a, mallory, 'First');
  const first = await opened(a);
  await a.fill(sel('composer'), 'hello from a stranger');
  await a.press(sel('composer'), 'Enter');

  const item = sel('chat-item', `[data-chat="${first}"]`);
  await m.waitForSelector(item, { timeout: 10000 }).catch(() => { throw new Error("mallory's page did not show the request"); });
  await m.click(item);
  await m.waitForSelector(sel('request-banner'), { state: 'visible', timeout: 10000 })
    .catch(() => { throw new Error('mallory: the chat is not shown as a request'); });
  assert(!(await m.isVisible(sel('composer'))), 'mallory: a request can be answered before it is accepted');
  await m.click(sel('request-accept'));
  await m.waitForSelector(sel('composer'), { state: 'visible', timeout: 20000 })
    .catch(() => { throw new Error('mallory: accepting did not open the composer'); });
  // Accepting syncs what waited: on a busy machine that takes a while.
  await m.waitForSelector(`${sel('message-text')}:has-text("hello from a stranger")`, { timeout: 30000 })
    .catch(() => { throw new Error('mallory: what waited in the request is not shown after accepting'); });
  await m.fill(sel('composer'), 'hi, who is this?');
  await m.press(sel('composer'), 'Enter');
  await a.waitForSelector(`${sel('message-text')}:has-text("hi, who is this?")`, { timeout: 10000 })
    .catch(() => { throw new Error("alice did not get mallory's reply"); });

  await newChat(a, mallory, 'Second');
  const second = await opened(a, first);
  const item2 = sel('chat-item', `[data-chat="${second}"]`);
  await m.waitForSelector(item2, { timeout: 10000 });
  await m.click(item2);
  await m.waitForSelector(sel('request-banner'), { state: 'visible', timeout: 10000 });
  await m.click(sel('request-block'));
  await m.waitForSelector(item2, { state: 'detached', timeout: 10000 })
    .catch(() => { throw new Error('mallory: the declined request is still listed'); });

  // Blocked: alice cannot put mallory in a chat again.
  await newChat(a, mallory, 'Third');
  const refused = await a.waitForSelector(`${sel('new-chat-form')} [role="alert"]:not(:empty), ${sel('error')}:not(:empty)`, { timeout: 10000 })
    .catch(() => null);
  assert(refused, 'alice: a chat with someone who blocked her was not refused');
  console.log(JSON.stringify({ accepted: first, declined_and_blocked: second, refused: (await refused.textContent()).slice(0, 80) }));
});
