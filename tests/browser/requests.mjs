// Requests from staff to see my data: agreeing from the privacy centre.
//
//   APP_URL=… node tests/browser/requests.mjs
//
// Opens Privacy, expects at least one request, agrees to the first (with
// the keyboard) and expects it to show as agreed or go away.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

run('requests', async ({ pages, state }) => {
  const url = need('APP_URL');
  state.browser = await launch();
  const page = await openApp(state.browser, url);
  pages.app = page;

  await page.click(sel('nav-privacy'));
  await page.waitForSelector(sel('privacy-requests', '[data-loaded="true"]'), { timeout: 15000 });
  const items = page.locator(sel('privacy-request'));
  const count = await items.count();
  assert(count > 0, 'the privacy centre shows no request to see my data');
  const first = items.first();
  const grant = await first.getAttribute('data-grant');
  const text = await first.textContent();
  assert(!/undefined|\[object/.test(text), `the request reads ${JSON.stringify(text)}`);

  await first.locator(sel('request-agree')).focus();
  await page.keyboard.press('Enter');
  const item = sel('privacy-request', `[data-grant="${grant}"]`);
  await page.waitForFunction((s) => {
    const el = document.querySelector(s);
    return !el || el.dataset.state === 'agreed';
  }, item, { timeout: 10000 }).catch(async () => {
    const err = await page.locator(`${item} .error`).textContent().catch(() => '');
    throw new Error(`the request ${grant} neither went away nor shows as agreed (${err || 'no error shown'})`);
  });
  const state2 = await page.locator(item).getAttribute('data-state').catch(() => null);
  console.log(JSON.stringify({ requests: count, grant, after: state2 || 'gone' }));
});
