// The page speaks the browser's language (en / ja / ko) and can be switched,
// down to the sentences of the privacy centre's data map: on a Japanese or
// Korean page none of the node's or the operator's English shows.
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

// How the data map says the profile is protected, for a person of region jp:
// the node's own English, and the `dmSealed` strings of app.js for region jp.
const PROFILE_PROTECTION = {
  en: "encrypted with your own data key, which region jp's key wraps; that key is kept outside every database",
  ja: 'あなた専用のデータ鍵で暗号化されています。データ鍵はリージョン jp の鍵で暗号化（ラップ）されており、その鍵はどのデータベースとも別の場所に保管されています。',
  ko: '나만의 데이터 키로 암호화되어 있습니다. 데이터 키는 리전 jp의 키로 암호화(래핑)되어 있으며, 그 키는 어떤 데이터베이스와도 분리된 곳에 보관됩니다.',
};
// English the node and the default configuration write into the data map,
// which a page in another language must show translated.
const ENGLISH = [
  'encrypted with your own data key', 'keyed hash', 'not encrypted at rest', 'end-to-end encrypted',
  'name, phone', 'waiting for your devices', 'Your home region', "The operator's staff", 'Republic of Korea',
  'Personal Information Protection', 'Access only through', 'APPI Art. 28', 'You agreed', 'If you withdraw',
  'No country outside', 'Japan',
];
// Four English words in a row (commands, in <code>, are left out).
const ENGLISH_RUN = /[A-Za-z][A-Za-z'’-]*(?:[ ,;:]+[A-Za-z][A-Za-z'’-]*){3,}/g;

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

// Opens the data map and reads it: the profile's protection and the text of
// every category opened, then goes back to the chats.
async function dataMap(page) {
  await page.click(sel('nav-privacy'));
  await page.waitForSelector(sel('data-map', '[data-loaded="true"]'), { timeout: 15000 });
  const got = await page.evaluate(() => {
    const map = document.querySelector('[data-test="data-map"]');
    for (const d of map.querySelectorAll('details')) d.open = true;
    const protection = map.querySelector('[data-test="data-map-category"][data-category="profile"] [data-test="data-map-protection"]');
    const texts = [];
    const walk = document.createTreeWalker(map, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const el = n.parentElement;
      if (el && !el.closest('code') && el.checkVisibility()) texts.push(n.textContent);
    }
    return { protection: protection ? protection.textContent : null, text: texts.join('\n') };
  });
  await page.click(sel('nav-chats'));
  return got;
}

async function profileProtection(page) {
  return page.evaluate(() => {
    const el = document.querySelector('[data-test="data-map-category"][data-category="profile"] [data-test="data-map-protection"]');
    return el ? el.textContent : null;
  });
}

function checkDataMap(who, got, want) {
  assert(got.protection === PROFILE_PROTECTION[want],
    `${who}: the data map says the profile is protected by ${JSON.stringify(got.protection)}, expected ${JSON.stringify(PROFILE_PROTECTION[want])}`);
  if (want === 'en') return;
  const english = ENGLISH.filter((e) => got.text.includes(e));
  assert(!english.length, `${who}: the data map shows English: ${english.map((e) => JSON.stringify(e)).join(', ')}`);
  const runs = got.text.match(ENGLISH_RUN);
  assert(!runs, `${who}: the data map shows English: ${(runs || []).map((e) => JSON.stringify(e)).join(', ')}`);
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
    checkDataMap(locale, await dataMap(page), want);
  }
  assert(texts.size === LOCALES.length, `the new-chat button text is not different in each language: ${[...texts]}`);

  // Switching from the menu changes the page at once, and is remembered.
  const page = pages['ko-KR'];
  await page.selectOption(sel('lang-select'), 'ja');
  check('ko-KR switched to ja', await shown(page), 'ja');
  assert(await profileProtection(page) === PROFILE_PROTECTION.ja, 'ko-KR switched to ja: the data map is not in Japanese');
  await page.selectOption(sel('lang-select'), 'en');
  check('ko-KR switched to en', await shown(page), 'en');
  assert(await profileProtection(page) === PROFILE_PROTECTION.en, 'ko-KR switched to en: the data map does not show the node\'s English');
  await page.reload({ waitUntil: 'domcontentloaded' });
  await page.waitForSelector(sel('chat-list', '[data-loaded="true"]'), { state: 'attached', timeout: 15000 });
  check('ko-KR after reload', await shown(page), 'en');

  // Keyboard: the language menu is reachable with Tab and shows focus.
  await page.focus(sel('lang-select'));
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert(outline !== 'none', 'the focused language menu has no visible outline');
});
