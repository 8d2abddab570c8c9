// Files in chats, in real browsers: attached by the picker, by pasting and
// by dropping; pictures previewed, anything else only saved.
//
//   ALICE_URL=… BOB_URL=… ALICE_HANDLE=alice BOB_HANDLE=bob node tests/browser/files.mjs
//
// Alice starts a chat with Bob, picks a PNG with a caption, pastes an SVG
// (which runs script if a browser renders it) and drops a text file. Both
// see the PNG as a picture; neither page renders the SVG, and the app
// serves it only as a download. Prints a JSON line with the chat.
import { launch, openApp, run, need, assert, sel } from './lib.mjs';

// A valid 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64');
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" onload="document.title=\'pwned\'"><script>document.title="pwned"</script></svg>';
const CAPTION = 'our cat';

async function previewLoads(page, who) {
  await page.waitForFunction(() => {
    const img = document.querySelector('[data-test="file-preview"]');
    return img && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 15000 }).catch(() => { throw new Error(`${who}: the picture was not shown`); });
}

async function fileRows(page) {
  return page.$$eval('[data-test="message"][data-seq]', (rows) => rows.map((r) => ({
    seq: Number(r.dataset.seq),
    name: (r.querySelector('[data-test="file-name"]') || {}).textContent || null,
    preview: !!r.querySelector('[data-test="file-preview"]'),
    text: (r.querySelector('[data-test="message-text"]') || {}).textContent || '',
    save: (r.querySelector('[data-test="file-save"]') || {}).href || null,
  })));
}

// What the app serves for a file, asked from inside the page's session.
async function served(page, url) {
  return page.evaluate(async (u) => {
    const r = await fetch(u, { credentials: 'same-origin' });
    const body = await r.arrayBuffer();
    return {
      status: r.status,
      type: r.headers.get('content-type'),
      disposition: r.headers.get('content-disposition'),
      size: body.byteLength,
    };
  }, url);
}

run('files', async ({ pages, state }) => {
  const aliceUrl = need('ALICE_URL');
  const bobUrl = need('BOB_URL');
  need('ALICE_HANDLE');
  const bobHandle = need('BOB_HANDLE');
  state.browser = await launch();
  const [alice, bob] = await Promise.all([openApp(state.browser, aliceUrl), openApp(state.browser, bobUrl)]);
  Object.assign(pages, { alice, bob });

  await alice.click(sel('new-chat'));
  await alice.fill(sel('new-chat-handles'), bobHandle);
  await alice.click(sel('new-chat-submit'));
  await alice.waitForFunction(() => {
    const c = document.querySelector('[data-test="conversation"]');
    return c.dataset.loaded && c.dataset.loaded === c.dataset.openChat;
  }, null, { timeout: 15000 }).catch(() => { throw new Error('alice: the new chat did not open'); });
  const chat = await alice.getAttribute(sel('conversation'), 'data-open-chat');

  // The picker, with what was typed as its caption.
  await alice.fill(sel('composer'), CAPTION);
  await alice.setInputFiles(sel('attach-input'), { name: 'cat.png', mimeType: 'image/png', buffer: PNG });
  await alice.waitForSelector(`${sel('message', '[data-seq]')} ${sel('file-name')}:has-text("cat.png")`, { timeout: 20000 })
    .catch(async () => {
      const err = await alice.textContent(sel('error')).catch(() => '');
      throw new Error(`alice: the picked file was not sent (${err || 'no error shown'})`);
    });
  await previewLoads(alice, 'alice');
  const composerLeft = await alice.inputValue(sel('composer'));
  assert(composerLeft === '', `alice: the caption stayed in the composer: "${composerLeft}"`);

  // Pasted into the composer.
  await alice.evaluate((svg) => {
    const dt = new DataTransfer();
    dt.items.add(new File([svg], 'logo.svg', { type: 'image/svg+xml' }));
    const composer = document.querySelector('[data-test="composer"]');
    composer.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, SVG);
  await alice.waitForSelector(`${sel('message', '[data-seq]')} ${sel('file-name')}:has-text("logo.svg")`, { timeout: 20000 })
    .catch(() => { throw new Error('alice: the pasted file was not sent'); });

  // Dropped onto the conversation.
  await alice.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['meet at noon\n'], 'notes.txt', { type: 'text/plain' }));
    const target = document.querySelector('[data-test="conversation"]');
    for (const type of ['dragenter', 'dragover', 'drop']) {
      target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  });
  await alice.waitForSelector(`${sel('message', '[data-seq]')} ${sel('file-name')}:has-text("notes.txt")`, { timeout: 20000 })
    .catch(() => { throw new Error('alice: the dropped file was not sent'); });

  // Bob sees all three; the picture as one, the others as files to save.
  const item = sel('chat-item', `[data-chat="${chat}"]`);
  await bob.waitForSelector(item, { timeout: 10000 }).catch(() => { throw new Error("bob's page did not show the chat"); });
  await bob.click(item);
  await bob.waitForFunction((id) => document.querySelector('[data-test="conversation"]').dataset.loaded === id, chat, { timeout: 10000 });
  await bob.waitForFunction(() => document.querySelectorAll('[data-test="file-name"]').length >= 3, null, { timeout: 15000 })
    .catch(() => { throw new Error('bob: not all three files arrived'); });
  await previewLoads(bob, 'bob');
  const rows = await fileRows(bob);
  const byName = Object.fromEntries(rows.filter((r) => r.name).map((r) => [r.name, r]));
  assert(byName['cat.png'] && byName['cat.png'].preview, 'bob: the PNG is not shown as a picture');
  assert(byName['cat.png'].text.includes(CAPTION), `bob: the caption is missing: ${JSON.stringify(byName['cat.png'])}`);
  assert(byName['logo.svg'] && !byName['logo.svg'].preview, 'bob: the SVG is rendered');
  assert(byName['notes.txt'] && !byName['notes.txt'].preview, 'bob: the text file is rendered');
  const title = await bob.title();
  assert(title !== 'pwned', 'bob: the SVG ran script');

  // The picture came with a thumbnail its sender's device made; the
  // others with none.
  const views = await bob.evaluate(async (c) => {
    const r = await fetch(`/api/chats/${encodeURIComponent(c)}/messages`, { credentials: 'same-origin' });
    return (await r.json()).messages.filter((m) => m.file).map((m) => [m.file.name, m.file.thumbnail || null, m.file.media_type]);
  }, chat);
  const thumbs = Object.fromEntries(views.map(([n, t]) => [n, t]));
  // The SVG is called what it is: the page still never renders it.
  const svgType = (views.find(([n]) => n === 'logo.svg') || [])[2];
  assert(svgType === 'image/svg+xml', `bob: the SVG arrived as ${svgType}`);
  assert(typeof thumbs['cat.png'] === 'string' && thumbs['cat.png'].startsWith('data:image/jpeg;base64,'),
    `bob: the picture has no thumbnail: ${JSON.stringify(views)}`);
  assert(thumbs['logo.svg'] === null && thumbs['notes.txt'] === null, `bob: a thumbnail for a file that is no picture: ${JSON.stringify(views)}`);

  // The app serves the SVG only as bytes to save, even when asked inline.
  const svgUrl = byName['logo.svg'].save.replace('?download=true', '');
  const svg = await served(bob, svgUrl);
  assert(svg.status === 200, `bob: the SVG was not served: ${JSON.stringify(svg)}`);
  assert(svg.type === 'application/octet-stream', `bob: the SVG came as ${svg.type}`);
  assert(svg.disposition.startsWith('attachment'), `bob: the SVG came as ${svg.disposition}`);
  assert(svg.size === Buffer.byteLength(SVG), `bob: the SVG is ${svg.size} bytes`);
  const png = await served(bob, byName['cat.png'].save);
  assert(png.type === 'application/octet-stream' && png.disposition.startsWith('attachment'),
    `bob: saving the PNG came as ${png.type} / ${png.disposition}`);
  const pngInline = await served(bob, byName['cat.png'].save.replace('?download=true', ''));
  assert(pngInline.type === 'image/png' && pngInline.size > 0,
    `bob: the PNG preview came as ${JSON.stringify(pngInline)}`);

  console.log(JSON.stringify({ chat, files: rows.filter((r) => r.name).map((r) => r.name) }));
});
