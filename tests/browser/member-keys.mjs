// A chat member the key log does not bind to the person it claims to be,
// in the app: the page says so loudly, names the device, and keeps saying
// so after a reload.
//
//   APP_URL=… ROGUE=<device id> node tests/browser/member-keys.mjs
//
// Before this runs, the node let a device into Alice's account that none
// of her devices approved, and that device started a chat with Bob.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

run('member-keys', async ({ pages, state }) => {
  const url = need('APP_URL');
  const rogue = need('ROGUE');
  state.browser = await launch();
  const page = await openApp(state.browser, url);
  pages.app = page;

  const banner = page.locator(sel('tamper-banner'));
  const warned = async () => {
    await banner.waitFor({ state: 'visible', timeout: 20000 })
      .catch(() => { throw new Error('no warning of a chat member the key log does not hold'); });
    const said = await banner.textContent();
    assert(said.includes('KEY LOG'), `the warning does not say the device is not in the key log: ${said}`);
    assert(said.includes(rogue), `the warning does not name the device ${rogue}: ${said}`);
    assert(said.includes('alice'), `the warning does not name whom the device claims to be: ${said}`);
    assert((await page.title()).startsWith('⚠'), 'the page title does not show the warning');
  };
  await warned();
  // The device was told once; the page is told again when it comes back.
  await page.reload();
  await warned();
  console.log(JSON.stringify({ warned: rogue }));
});
