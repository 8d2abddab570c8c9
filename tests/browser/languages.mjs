// The page speaks the browser's language (en / ja / ko) and can be switched.
//
//   APP_URL=http://127.0.0.1:P/open?secret=… node tests/browser/languages.mjs
//
// The app spends the secret in APP_URL on first use, so the first context
// opens APP_URL and the others reuse its session cookie.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

// Must match the `newChat` and `chats` strings in crates/kizuna-app/assets/app.js.
const EXPECTED = {
  en: { newChat: 'New chat', chats: 'Chats' },
  ja: { newChat: '新しいトーク', chats: 'トーク' },
  ko: { newChat: '새 채팅', chats: '채팅' },
};
const LOCALES = [['en-US', 'en'], ['ja-JP', 'ja'], ['ko-KR', 'ko']];

async function shown(page) {
  return page.evaluate(() => ({
    lang: document.documentElement.lang,
    newChat: document.querySelector('[data-test="new-chat"]').textContent.trim(),
    chats: document.getElementById('chats-heading').textContent.trim(),
    select: document.querySelector('[data-test="lang-select"]').value,
  }));
}

function check(who, got, want) {
  assert(got.lang === want, `${who}: <html lang> is ${JSON.stringify(got.lang)}, expected ${want}`);
  assert(got.newChat === EXPECTED[want].newChat,
    `${who}: new-chat button says ${JSON.stringify(got.newChat)}, expected ${JSON.stringify(EXPECTED[want].newChat)}`);
  assert(got.chats === EXPECTED[want].chats,
    `${who}: chat list heading says ${JSON.stringify(got.chats)}, expected ${JSON.stringify(EXPECTED[want].chats)}`);
  assert(got.select === want, `${who}: language menu shows ${got.select}, expected ${want}`);
}

run('languages', async ({ pages, state }) => {
  const url = need('APP_URL');
  state.browser = await launch();

  let session;
  const texts = new Set();
  for (const [locale, want] of LOCALES) {
    const page = await openApp(state.browser, url, { locale, storageState: session });
    pages[locale] = page;
    if (!session) session = await page.context().storageState();
    const got = await shown(page);
    check(locale, got, want);
    texts.add(got.newChat);
  }
  assert(texts.size === LOCALES.length, `the new-chat button text is not different in each language: ${[...texts]}`);

  // Switching from the menu changes the page at once, and is remembered.
  const page = pages['ko-KR'];
  await page.selectOption(sel('lang-select'), 'ja');
  check('ko-KR switched to ja', await shown(page), 'ja');
  await page.selectOption(sel('lang-select'), 'en');
  check('ko-KR switched to en', await shown(page), 'en');
  await page.reload({ waitUntil: 'domcontentloaded' });
  await page.waitForSelector(sel('chat-list', '[data-loaded="true"]'), { state: 'attached', timeout: 15000 });
  check('ko-KR after reload', await shown(page), 'en');

  // Keyboard: the language menu is reachable with Tab and shows focus.
  await page.focus(sel('lang-select'));
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert(outline !== 'none', 'the focused language menu has no visible outline');
});
