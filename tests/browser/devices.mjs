// My devices from Settings, at phone width: approving the code a new device
// shows, then revoking that device.
//
//   APP_URL=… CODE=ABCD-EFGH NEW_DEVICE_LABEL=… node tests/browser/devices.mjs
//
// The new device (`kizuna device link`) waits for the approval; the test
// that runs this script checks it was linked.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

run('devices', async ({ pages, state }) => {
  const url = need('APP_URL');
  const code = need('CODE');
  const label = need('NEW_DEVICE_LABEL');
  state.browser = await launch();
  // A phone's width: the page must work there too.
  const page = await openApp(state.browser, url, { viewport: { width: 390, height: 800 } });
  pages.app = page;

  await page.click(sel('nav-settings'));
  const items = page.locator(sel('device-item'));
  await items.first().waitFor({ timeout: 10000 });
  const before = await items.count();

  await page.fill(sel('approve-code'), code.toLowerCase());
  await page.focus(sel('approve-submit'));
  await page.keyboard.press('Enter');
  await page.waitForSelector(`${sel('approve-result')}:not(:empty)`, { timeout: 20000 }).catch(async () => {
    const err = await page.locator(`${sel('approve-code')} >> xpath=ancestor::form//*[@role="alert"]`).textContent().catch(() => '');
    throw new Error(`approving the code showed no result (${err || 'no error shown'})`);
  });

  // The new device appears in the list (after a reload of the list).
  await page.click(sel('nav-chats'));
  await page.click(sel('nav-settings'));
  const added = page.locator(sel('device-item'), { hasText: label });
  await added.waitFor({ timeout: 10000 }).catch(() => { throw new Error(`the device ${label} is not listed after approving it`); });
  assert(await items.count() === before + 1, `expected ${before + 1} devices, the page lists ${await items.count()}`);

  // Revoke it: the page asks first.
  await added.locator(sel('revoke-device')).click();
  await page.click(sel('revoke-confirm'));
  await page.waitForFunction(
    ([s, l]) => ![...document.querySelectorAll(s)].some((e) => e.textContent.includes(l)),
    [sel('device-item'), label], { timeout: 10000 },
  ).catch(() => { throw new Error(`the device ${label} is still listed after revoking it`); });
  console.log(JSON.stringify({ before, linked: label, after: await items.count() }));
});
