// Helpers for the browser tests of the device app (`kizuna app`) and the
// staff console (`kizuna staff console`).
// They drive Debian's Chromium through playwright-core (no browser download).
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const sel = (name, extra = '') => `[data-test="${name}"]${extra}`;

/** Launches headless Chromium: $CHROMIUM, else /usr/bin/chromium. */
export async function launch() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath} (apt-get install chromium, or set CHROMIUM)`);
  }
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

/**
 * Opens one app in a context of its own (its own cookies) and waits for the
 * chat list's first render. `url` is the `/open?secret=` address, which the
 * app spends on first use; to open the same app again in another context,
 * pass the `storageState` of a context that already opened it and any URL of
 * the app (its origin is used). `expectHttp` lists [status, path] answers
 * the test expects, which are not counted as the page's errors. `ready` is
 * the selector to wait for: by default the device app's loaded chat list;
 * the staff console passes its login form (or anything else it needs).
 */
export async function openApp(browser, url, { locale = 'en-US', storageState, viewport, expectHttp = [], ready } = {}) {
  const context = await browser.newContext({
    locale,
    viewport: viewport || { width: 1100, height: 750 },
    storageState,
  });
  const page = await context.newPage();
  page.errors = [];
  page.dialogs = [];
  page.on('pageerror', (e) => page.errors.push(String(e && e.stack ? e.stack : e)));
  page.on('console', (m) => {
    // HTTP errors are reported below, with their address.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) page.errors.push('console: ' + m.text());
  });
  page.on('response', (r) => {
    const where = new URL(r.url()).pathname;
    // An answer the test expects (a tampered ledger's 502) is no error.
    if (r.status() >= 400 && !expectHttp.some(([status, p]) => status === r.status() && p === where)) {
      page.errors.push(`HTTP ${r.status()} from ${r.request().method()} ${where}`);
    }
  });
  page.on('dialog', (d) => { page.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  const target = storageState ? new URL('/', url).href : url;
  const res = await page.goto(target, { waitUntil: 'domcontentloaded' });
  if (res && res.status() >= 400) throw new Error(`${target} answered HTTP ${res.status()}`);
  await page.waitForSelector(ready || sel('chat-list', '[data-loaded="true"]'), { state: 'attached', timeout: 15000 });
  return page;
}

/** Saves a full-page screenshot; returns its path (or null if it failed). */
export async function screenshotOnFailure(page, name) {
  const dir = process.env.KIZUNA_SCREENSHOTS || path.join('target', 'browser-screenshots');
  try {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${name.replace(/[^\w.-]+/g, '_')}.png`);
    await page.screenshot({ path: file, fullPage: true, timeout: 5000 });
    return file;
  } catch (e) {
    console.error(`(could not save a screenshot of ${name}: ${e.message})`);
    return null;
  }
}

export function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`set ${name}`);
  return v;
}

export function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/**
 * Runs a test body with an overall time limit. The body gets `pages`, a
 * map name -> page it fills in, so a failure screenshots every page open.
 * Exits 0 on success, 1 on failure.
 */
export async function run(name, body, { timeoutMs = 60000 } = {}) {
  const pages = {};
  const state = { browser: null };
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name}: took longer than ${timeoutMs / 1000} s`)), timeoutMs);
  });
  let code = 0;
  try {
    await Promise.race([body({ pages, state }), timeout]);
    for (const [who, page] of Object.entries(pages)) {
      if (page.errors && page.errors.length) throw new Error(`${who}'s page logged errors:\n  ${page.errors.join('\n  ')}`);
    }
    console.log(`${name}: ok`);
  } catch (e) {
    code = 1;
    console.error(`${name}: FAILED: ${e && e.message ? e.message : e}`);
    for (const [who, page] of Object.entries(pages)) {
      if (page.errors && page.errors.length) console.error(`  ${who}'s page errors:\n    ${page.errors.join('\n    ')}`);
      const file = await screenshotOnFailure(page, `${name}-${who}`);
      if (file) console.error(`  screenshot of ${who}'s page: ${file}`);
    }
  } finally {
    clearTimeout(timer);
    if (state.browser) await Promise.race([state.browser.close(), new Promise((r) => setTimeout(r, 5000))]).catch(() => {});
  }
  process.exit(code);
}
