// A device added to the account behind the person's back, in the app: the
// page says so at once, loudly, and names the device.
//
//   APP_URL=… ROGUE=<device id> node tests/browser/keys.mjs
//
// Before this runs, the node let a device into Alice's account that none
// of her devices approved, so the key log does not hold it.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

run('keys', async ({ pages, state }) => {
  const url = need('APP_URL');
  const rogue = need('ROGUE');
  state.browser = await launch();
  // The node's keys refused are answered 502, as a tampered ledger is.
  const page = await openApp(state.browser, url, { expectHttp: [[502, '/api/safety/changed']] });
  pages.app = page;

  const banner = page.locator(sel('tamper-banner'));
  await banner.waitFor({ state: 'visible', timeout: 20000 })
    .catch(() => { throw new Error('no warning that a device was added behind the person\'s back'); });
  const said = await banner.textContent();
  assert(said.includes('KEY LOG'), `the warning does not say the keys are not in the key log: ${said}`);
  assert(said.includes(rogue), `the warning does not name the device ${rogue}: ${said}`);
  assert((await page.title()).startsWith('⚠'), 'the page title does not show the warning');
  console.log(JSON.stringify({ warned: rogue }));
});
