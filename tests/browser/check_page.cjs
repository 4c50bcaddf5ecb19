// Opens a static page in headless Chromium (Debian's, driven by playwright-core) and prints one
// JSON object: the console errors and page errors seen, and the images of a CSS selector with
// how many of them loaded (naturalWidth > 0).
//   node check_page.cjs PLAYWRIGHT_CORE_DIR CHROMIUM PAGE_FILE SELECTOR
const [, , pw, chromium, page, selector] = process.argv;
const { chromium: browserType } = require(pw);

(async () => {
  const browser = await browserType.launch({
    executablePath: chromium,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const errors = [];
  const tab = await browser.newPage();
  tab.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  tab.on('pageerror', (e) => errors.push(String(e)));
  tab.on('requestfailed', (r) => errors.push(`failed to load ${r.url()}`));
  await tab.goto('file://' + require('path').resolve(page), { waitUntil: 'load' });
  const images = await tab.$$eval(selector, (els) => els.map((e) => e.naturalWidth));
  const title = await tab.title();
  await browser.close();
  process.stdout.write(JSON.stringify({
    title, errors, images: images.length, loaded: images.filter((w) => w > 0).length,
  }) + '\n');
})().catch((e) => { process.stderr.write(String(e) + '\n'); process.exit(1); });
