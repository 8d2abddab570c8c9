// Safety numbers in the app: a warning when a verified contact's keys
// changed, the number shown from the contact's row, and confirming it.
//
//   APP_URL=… CHAT=… CONTACT=bob DIGITS="…" node tests/browser/safety.mjs
//
// Before this runs, Alice verified Bob and Bob linked a new device, so his
// keys changed. The page warns at once; the number it shows for Bob is
// DIGITS (what both devices compute); confirming it ends the warning.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

run('safety', async ({ pages, state }) => {
  const url = need('APP_URL');
  const chat = need('CHAT');
  const contact = need('CONTACT');
  const digits = need('DIGITS');
  state.browser = await launch();
  const page = await openApp(state.browser, url);
  pages.app = page;

  const banner = page.locator(sel('keys-banner'));
  await banner.waitFor({ state: 'visible', timeout: 15000 })
    .catch(() => { throw new Error('no warning that a verified contact\'s keys changed'); });
  const said = await banner.textContent();
  assert(said.includes(contact), `the warning does not name ${contact}: ${said}`);

  // From the warning to the number, in the chat with them.
  await banner.locator(sel('keys-banner-compare')).first().click();
  const shown = page.locator(sel('safety-digits'));
  await shown.waitFor({ timeout: 15000 });
  assert(await shown.getAttribute('data-digits') === digits, 'the page shows another number than the devices compute');
  assert(await page.getAttribute(sel('conversation'), 'data-open-chat') === chat, 'the chat with them did not open');
  assert(await page.getAttribute(sel('safety-standing'), 'data-state') === 'changed', 'the number is not marked as changed');

  // Compared and matching: confirmed, and the warning goes.
  await page.click(sel('safety-confirm'));
  await page.waitForSelector(`${sel('safety-standing')}[data-state="verified"]`, { timeout: 15000 });
  await banner.waitFor({ state: 'hidden', timeout: 15000 })
    .catch(() => { throw new Error('the warning stayed after confirming'); });

  // Another member's row offers the number too, unverified until confirmed.
  const rows = page.locator(sel('member-item'));
  assert(await rows.count() >= 2, 'the members list is missing');
  console.log(JSON.stringify({ confirmed: contact }));
});
