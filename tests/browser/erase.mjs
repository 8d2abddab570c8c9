// Erasing my account from the privacy centre, behind typing my handle.
//
//   APP_URL=… HANDLE=… node tests/browser/erase.mjs
//
// The button stays disabled until the handle is typed exactly; after it,
// the page says the account was erased. The test that runs this script
// checks the node no longer knows the account.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

run('erase', async ({ pages, state }) => {
  const url = need('APP_URL');
  const handle = need('HANDLE');
  state.browser = await launch();
  const page = await openApp(state.browser, url);
  pages.app = page;

  await page.click(sel('nav-privacy'));
  await page.waitForSelector(sel('erase-confirm'), { state: 'visible', timeout: 10000 });
  await page.fill(sel('erase-confirm'), handle + 'x');
  assert(await page.isDisabled(sel('erase-submit')), 'the erase button is enabled for a handle that is not mine');
  await page.fill(sel('erase-confirm'), handle);
  assert(!(await page.isDisabled(sel('erase-submit'))), 'the erase button stays disabled for my own handle');
  await page.click(sel('erase-submit'));
  await page.waitForSelector(sel('erased'), { state: 'visible', timeout: 15000 })
    .catch(() => { throw new Error('the page did not say the account was erased'); });
  const said = await page.textContent(sel('erased'));
  assert(said.includes('history on this device stays'), `the erased notice says ${JSON.stringify(said)}`);
  console.log(JSON.stringify({ erased: handle }));
});
