// A long conversation stays light: only the visible rows are in the DOM.
//
//   APP_URL=http://127.0.0.1:P/open?secret=… CHAT=<chat id with ~10,000 messages> \
//   node tests/browser/scroll.mjs
//
// Opens the chat, checks that few message rows exist, wheels up to the top
// measuring the longest gap between animation frames, and checks the first
// message ends up visible. Prints {"open_ms", "rendered_rows", "max_frame_ms"}.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

const MAX_ROWS = 200;
const OPEN_LIMIT_MS = 10000;

run('scroll', async ({ pages, state }) => {
  const url = need('APP_URL');
  const chat = need('CHAT');
  state.browser = await launch();
  const page = await openApp(state.browser, url, { locale: 'en-US' });
  pages.app = page;

  const item = sel('chat-item', `[data-chat="${chat}"]`);
  await page.waitForSelector(item, { timeout: 10000 }).catch(() => {
    throw new Error(`chat ${chat} is not in the chat list`);
  });
  const t0 = Date.now();
  await page.click(item);
  await page.waitForFunction(
    (id) => document.querySelector('[data-test="conversation"]').dataset.loaded === id,
    chat, { timeout: OPEN_LIMIT_MS });
  const openMs = Date.now() - t0;
  assert(openMs < OPEN_LIMIT_MS, `opening took ${openMs} ms`);

  // What the page was given, to know the first and last message.
  const { count, firstSeq, lastSeq } = await page.evaluate(async (id) => {
    const r = await fetch(`/api/chats/${encodeURIComponent(id)}/messages`, { credentials: 'same-origin' });
    const { messages } = await r.json();
    return { count: messages.length, firstSeq: messages[0].seq, lastSeq: messages[messages.length - 1].seq };
  }, chat);
  assert(count > MAX_ROWS, `the chat holds only ${count} messages; this test wants thousands`);

  const renderedRows = await page.evaluate(() => window.__kizuna.renderedRows());
  assert(renderedRows > 0 && renderedRows < MAX_ROWS, `${renderedRows} message rows in the DOM (want 1..${MAX_ROWS - 1})`);

  const scroller = '[data-test="conversation"] .scroller';
  const visible = (seq) => page.evaluate(({ s, seq }) => {
    const sc = document.querySelector(s).getBoundingClientRect();
    const el = document.querySelector(`[data-test="message"][data-seq="${seq}"]`);
    if (!el) return false;
    const r = el.getBoundingClientRect();
    return r.bottom > sc.top && r.top < sc.bottom;
  }, { s: scroller, seq });
  assert(await visible(lastSeq), `the last message (seq ${lastSeq}) is not visible after opening`);

  // Frame gaps while scrolling, measured in the page.
  await page.evaluate(() => {
    const w = window;
    w.__frames = { max: 0, last: performance.now(), on: true };
    const tick = (now) => {
      const f = w.__frames;
      if (!f.on) return;
      f.max = Math.max(f.max, now - f.last);
      f.last = now;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });

  const box = await page.locator(scroller).boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  let maxRows = renderedRows;
  for (let step = 0; step < 5000; step++) {
    await page.mouse.wheel(0, -1500);
    if (step % 10 === 9) {
      const s = await page.evaluate((sc) => ({
        top: document.querySelector(sc).scrollTop,
        rows: window.__kizuna.renderedRows(),
      }), scroller);
      maxRows = Math.max(maxRows, s.rows);
      if (s.top <= 0) break;
    }
  }
  await page.waitForTimeout(300);
  const frames = await page.evaluate(() => { window.__frames.on = false; return window.__frames.max; });
  const top = await page.evaluate((sc) => document.querySelector(sc).scrollTop, scroller);
  assert(top <= 0, `wheeling up did not reach the top (scrollTop ${top})`);
  assert(await visible(firstSeq), `the first message (seq ${firstSeq}) is not visible at the top`);
  assert(maxRows < MAX_ROWS, `${maxRows} message rows in the DOM while scrolling`);

  console.log(JSON.stringify({
    open_ms: openMs,
    rendered_rows: renderedRows,
    max_rows_while_scrolling: maxRows,
    max_frame_ms: Math.round(frames * 10) / 10,
    messages: count,
  }));
});
