// The dead-letter page in a real browser (headless Chromium driven by playwright-core) over a real store: the chart
// and the counts, filters, one letter in full, revealing and masking a confidential one, a replay and a purge with
// their confirmation, and the page refreshing by itself while letters arrive.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DuckDbDlq } from '../dist/dlq/duckdb.js';
import { fixture, runCli } from './helpers/cli.js';
import { sampleLetters, startServe, writeLetters } from './fixtures/serve-helpers.js';

/** Debian's chromium; skipped with a reason where it is missing, a failure under CI=true. */
function needChromium() {
  const found = spawnSync('which', ['chromium'], { encoding: 'utf8' });
  const path = found.status === 0 ? found.stdout.trim() : '';
  if (path) return { path, options: {} };
  const reason = 'no chromium on PATH (apt-get install chromium) for the browser tests';
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  return { path, options: { skip: reason } };
}

const chromiumAt = needChromium();

t.test(
  'the page: chart, counts, filters, a letter, reveal and mask, replay, purge, refresh',
  chromiumAt.options,
  async (t) => {
    const { chromium } = await import('playwright-core');
    const path = join(t.testdir(), 'dead.duckdb');
    await writeLetters(path, sampleLetters());
    const { url } = await startServe(t, path, ['--processor', fixture('serve-processor.js')]);

    const browser = await chromium.launch({ executablePath: chromiumAt.path, args: ['--no-sandbox'] });
    t.teardown(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const problems = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    await page.goto(url);
    t.equal(new URL(page.url()).hash, '', 'the token is taken out of the address bar');

    const total = page.locator('#total');
    const rows = page.locator('#letters tbody tr[data-key]');
    await page.waitForFunction(() => document.querySelector('#total').textContent === '6');
    t.equal(await rows.count(), 6, 'six rows');
    t.same(
      await page.locator('#letters tbody tr td.id').allTextContents(),
      ['orders:1', 'orders:2', 'orders:3', 'orders:4', 'orders:5', 'payments:1'],
      'in line order',
    );

    // The chart: the hour window holds every letter, stacked by reason.
    await page.click('#windows button[data-window="hour"]');
    await page.waitForFunction(
      () => document.querySelector('#chart').dataset.letters === '6' && document.querySelector('#chart canvas'),
    );
    t.same(
      await page.locator('#legend li').allTextContents(),
      ['handler failed: 4', 'no matching handler: 2'],
      'the legend counts each band',
    );
    const drawn = await page.evaluate(() => {
      const canvas = document.querySelector('#chart canvas');
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      const colours = new Set();
      for (let i = 0; i < pixels.length; i += 4)
        if (pixels[i + 3] > 0) colours.add(`${pixels[i]},${pixels[i + 1]},${pixels[i + 2]}`);
      return [...colours];
    });
    t.ok(drawn.includes('78,121,167') && drawn.includes('242,142,43'), 'bars of both reasons are drawn');

    const counts = async (selector) =>
      Object.fromEntries(
        await page
          .locator(`${selector} tr`)
          .evaluateAll((trs) => trs.map((tr) => [tr.cells[0].textContent, tr.cells[2].textContent])),
      );
    t.same(await counts('#by-reason'), { 'handler failed': '4', 'no matching handler': '2' });
    t.same(await counts('#by-handler'), { reserve: '2', '(none)': '2', ship: '1', charge: '1' });

    // Filters: by clicking a count, by typing, and the error text.
    await page.click('#by-handler tr[data-value="reserve"]');
    await page.waitForFunction(() => document.querySelector('#total').textContent === '2');
    t.equal(await page.inputValue('#filters input[name=handler]'), 'reserve');
    await page.click('#filters button[type=reset]');
    await page.fill('#filters input[name=text]', 'out of stock: item 9');
    await page.waitForFunction(() => document.querySelector('#total').textContent === '1');
    t.same(await page.locator('#letters tbody tr td.id').allTextContents(), ['orders:2']);
    await page.fill('#filters input[name=text]', '');
    await page.fill('#filters input[name=source]', 'amqp:orders');
    await page.waitForFunction(() => document.querySelector('#total').textContent === '2');
    await page.click('#filters button[type=reset]');
    await page.waitForFunction(() => document.querySelector('#total').textContent === '6');

    // One letter in full: text, pretty JSON, hex; headers; the error with its stack; attempts.
    await rows.filter({ hasText: 'orders:1' }).click();
    await page.waitForSelector('#detail:not([hidden]) #revealed:not([hidden])');
    t.equal(await page.textContent('#body'), '{"order":1,"fixed":true}');
    await page.click('#body-views [data-view=json]');
    t.equal(await page.textContent('#body'), '{\n  "order": 1,\n  "fixed": true\n}');
    await page.click('#body-views [data-view=hex]');
    t.match(await page.textContent('#body'), /^00000000  7b 22 6f 72 64 65 72 22/);
    t.same(JSON.parse(await page.textContent('#headers')), { line: 1 });
    t.match(await page.textContent('#error'), /out of stock: item 7\n {4}at reserve/);
    t.match(await page.textContent('#fields'), /attempts2/);

    // A confidential letter: masked until revealed, and masked again.
    await page.click('#body-views [data-view=text]');
    await rows.filter({ hasText: 'payments:1' }).click();
    await page.waitForFunction(() => document.querySelector('#detail-title').textContent === 'Letter payments:1');
    await page.waitForSelector('#masked:not([hidden])');
    t.notMatch(
      await page.textContent('body'),
      /4111|Ada Lovelace/,
      'nothing of the confidential letter is on the page',
    );
    await page.click('#reveal');
    await page.waitForSelector('#revealed:not([hidden])');
    t.equal(await page.textContent('#body'), '{"card":"4111 1111 1111 1111"}');
    t.match(await page.textContent('#headers'), /Ada Lovelace/);
    t.match(await page.textContent('#error'), /declined/);
    await page.click('#mask');
    await page.waitForSelector('#masked:not([hidden])');
    t.notMatch(await page.textContent('body'), /4111|Ada Lovelace/, 'masked again');

    // Replay one selected letter (it is fixed, so it is handled and leaves the store), after confirming.
    await rows.filter({ hasText: 'orders:1' }).locator('input[type=checkbox]').check();
    await page.click('#replay-selected');
    await page.waitForSelector('#confirm[open]');
    t.match(await page.textContent('#confirm-text'), /Replay the 1 dead letter selected/);
    await page.click('#confirm-cancel');
    t.equal(await total.textContent(), '6', 'cancelled: nothing replayed');
    await page.click('#replay-selected');
    await page.click('#confirm-ok');
    await page.waitForFunction(() => document.querySelector('#message').textContent.startsWith('replayed'));
    t.equal(await page.textContent('#message'), 'replayed 1: 1 handled, 0 failed again');
    await page.waitForFunction(() => document.querySelector('#total').textContent === '5');

    // Purge another from its detail view.
    await rows.filter({ hasText: 'orders:4' }).click();
    const purgedKey = await rows.filter({ hasText: 'orders:4' }).getAttribute('data-key');
    await page.waitForFunction(() => document.querySelector('#detail-title').textContent === 'Letter orders:4');
    await page.click('#purge-one');
    t.match(await page.textContent('#confirm-text'), /^Purge letter orders:4\?/, 'the confirmation names the letter');
    await page.click('#confirm-ok');
    await page.waitForFunction(() => document.querySelector('#message').textContent.startsWith('purged'));
    t.equal(await page.textContent('#message'), 'purged 1 dead letter');
    await page.waitForFunction(() => document.querySelector('#total').textContent === '4');
    t.equal((await runCli(['dlq', 'count', '--dlq', path])).stdout.trim(), '4', 'the store agrees');
    t.equal((await runCli(['dlq', 'show', 'orders:1', '--dlq', path])).code, 1, 'the replayed letter is gone');
    t.equal((await runCli(['dlq', 'show', purgedKey, '--dlq', path])).code, 1, 'the purged letter is gone');

    // A letter that arrives now shows up without reloading.
    const before = problems.length;
    const dlq = await DuckDbDlq.open(path);
    await dlq.put([{ id: 'late:1', body: Buffer.from('late'), reason: 'nacked', source: 'stdin' }]);
    await dlq.close();
    await page.waitForFunction(() => document.querySelector('#total').textContent === '5', null, { timeout: 20000 });
    t.same(problems.slice(0, before), [], 'no errors in the page');
    // While this test held the file for writing, as any other writer may, a refresh of the page can be answered 503
    // (the store is busy); the page tries again at its next refresh, as the total above shows. Nothing else.
    t.same(
      problems.slice(before).filter((problem) => !/status of 503/.test(problem)),
      [],
      'no errors but a busy store while the test held the file',
    );
  },
);

t.test('without the token the page reads but cannot act', chromiumAt.options, async (t) => {
  const { chromium } = await import('playwright-core');
  const path = join(t.testdir(), 'dead.duckdb');
  await writeLetters(path, sampleLetters());
  const { base } = await startServe(t, path, ['--processor', fixture('serve-processor.js')]);
  const browser = await chromium.launch({ executablePath: chromiumAt.path, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(base);
  await page.waitForFunction(() => document.querySelector('#total').textContent === '6');
  t.match(await page.textContent('#token-state'), /read only/);
  await page.click('#purge-filtered');
  t.match(await page.textContent('#message'), /need the token/);
  t.equal(await page.locator('#confirm[open]').count(), 0, 'no confirmation offered');
  // Even a page that skips its own check gets 401 from the server.
  const status = await page.evaluate(
    async () =>
      (
        await fetch('/api/purge', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"filter":{}}',
        })
      ).status,
  );
  t.equal(status, 401);
  t.equal((await runCli(['dlq', 'count', '--dlq', path])).stdout.trim(), '6', 'nothing purged');
});
