// The privacy centre: the data map, the verified access log (or the tamper
// banner), and the export link.
//
//   APP_URL=… EXPECT=verified|tampered [EXPECT_ACCESSES=N] [EXPECT_KOREA=1] node tests/browser/privacy.mjs
//
// EXPECT=verified: the access log says it was verified, no tamper banner, at
// least EXPECT_ACCESSES entries. EXPECT=tampered: the red banner shows and
// says "FAILED VERIFICATION". Prints a JSON line with what it saw.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

run('privacy', async ({ pages, state }) => {
  const url = need('APP_URL');
  const expect = need('EXPECT');
  assert(expect === 'verified' || expect === 'tampered', `EXPECT must be verified or tampered, not ${expect}`);
  const minAccesses = Number(process.env.EXPECT_ACCESSES || 0);
  const korea = process.env.EXPECT_KOREA === '1';
  state.browser = await launch();
  // A tampered ledger is answered 502 ledger_tampered: that is the point.
  const expectHttp = expect === 'tampered' ? [[502, '/api/privacy/accesses']] : [];
  const page = await openApp(state.browser, url, { expectHttp });
  pages.app = page;

  await page.focus(sel('nav-privacy'));
  await page.keyboard.press('Enter');
  await page.waitForSelector(sel('privacy'), { state: 'visible', timeout: 5000 });
  const current = await page.getAttribute(sel('nav-privacy'), 'aria-current');
  assert(current === 'page', 'the Privacy button is not marked as the current section');

  // The data map.
  await page.waitForSelector(sel('data-map', '[data-loaded="true"]'), { timeout: 15000 });
  const categories = await page.locator(sel('data-map-category')).count();
  assert(categories > 0, 'the data map shows no categories');
  const mapText = await page.textContent(sel('data-map'));
  if (korea) assert(mapText.includes('Republic of Korea'), 'the data map does not mention "Republic of Korea"');
  assert(!/undefined|\[object/.test(mapText), 'the data map shows "undefined" or "[object …]"');
  // A category opens with the keyboard.
  await page.focus(`${sel('data-map-category')} > summary`);
  await page.keyboard.press('Enter');
  assert(await page.locator(`${sel('data-map-category')}[open]`).count() === 1, 'a data map category did not open with Enter');

  // The access log.
  await page.waitForSelector(sel('access-log', '[data-loaded="true"]'), { timeout: 20000 });
  const banner = page.locator(sel('tamper-banner'));
  const entries = await page.locator(sel('access-entry')).count();
  let bannerText = null;
  if (expect === 'verified') {
    assert(await banner.isHidden(), `the tamper banner shows: ${await banner.textContent()}`);
    await page.waitForSelector(sel('access-verified'), { state: 'visible', timeout: 1000 }).catch(() => {
      throw new Error('the access log does not say it was verified');
    });
    assert(entries >= minAccesses, `the access log shows ${entries} entries, expected at least ${minAccesses}`);
    if (entries) {
      const first = await page.textContent(sel('access-entry'));
      assert(/Verified in the ledger \(entry #\d+\)/.test(first), `an access entry lacks its proof line: ${first}`);
    }
  } else {
    await banner.waitFor({ state: 'visible', timeout: 5000 }).catch(() => { throw new Error('no tamper banner'); });
    bannerText = await banner.textContent();
    assert(bannerText.includes('FAILED VERIFICATION'), `the tamper banner says ${JSON.stringify(bannerText)}`);
    assert((await banner.getAttribute('role')) === 'alert', 'the tamper banner is not role=alert');
    assert(entries === 0, `the access log still shows ${entries} entries as verified`);
    assert(await page.locator(sel('access-verified')).count() === 0, 'the access log still says verified');
    // Banner stays when going elsewhere in the app.
    await page.click(sel('nav-chats'));
    assert(await banner.isVisible(), 'the tamper banner went away on leaving Privacy');
    await page.click(sel('nav-privacy'));
    // The 502 that carried the news is expected, not a page error.
    page.errors = page.errors.filter((e) => !/HTTP 502 from GET \/api\/privacy\/accesses/.test(e));
  }

  // The export link.
  const link = page.locator(sel('export-link'));
  assert(await link.getAttribute('download') !== null, 'the export link has no download attribute');
  const href = await link.getAttribute('href');
  const fetched = await page.evaluate(async (h) => {
    const r = await fetch(h, { credentials: 'same-origin' });
    const text = await r.text();
    let json = false;
    try { JSON.parse(text); json = true; } catch (_) { /* not JSON */ }
    return { status: r.status, json, disposition: r.headers.get('content-disposition') };
  }, href);
  assert(fetched.status === 200, `the export answered HTTP ${fetched.status}`);
  assert(fetched.json, 'the export is not JSON');

  // README_SHOTS=dir: keep what the privacy centre looks like, for the README.
  if (process.env.README_SHOTS && expect === 'verified') {
    await page.click(sel('nav-privacy'));
    await page.screenshot({ path: `${process.env.README_SHOTS}/app-privacy.png` });
  }
  console.log(JSON.stringify({ expect, categories, accesses: entries, banner: bannerText, export_disposition: fetched.disposition }));
});
