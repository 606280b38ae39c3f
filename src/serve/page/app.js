// The dead-letter page: every figure comes from the server's DuckDB queries (/api/view), a page at a time.
// Text from letters is only ever set as textContent, never parsed as HTML.
'use strict';

const REFRESH_MS = 3000;
const PAGE_SIZE = 50;
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1'];
const OTHER = 'other reasons';

const $ = (selector) => document.querySelector(selector);
const state = {
  window: 'day',
  offset: 0,
  total: 0,
  selected: new Set(),
  rows: [],
  detail: null,
  bodyView: 'text',
  config: null,
};

// The token arrives in the URL's fragment, which browsers never send; it is kept for this tab only.
(function takeToken() {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem('missive-token', decodeURIComponent(match[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
})();
const token = () => sessionStorage.getItem('missive-token');

class ApiError extends Error {}

async function api(path, { method = 'GET', body } = {}) {
  const headers = {};
  if (token()) headers['x-missive-token'] = token();
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const value = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new ApiError(value.error ?? `${response.status}`);
  return value;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function say(text, kind = 'info') {
  const box = $('#message');
  box.textContent = text;
  box.className = kind;
  box.hidden = false;
}

/** The filters as query values; "since" becomes an absolute time here, so the server takes ISO times only. */
function filterValues() {
  const form = new FormData($('#filters'));
  const values = {};
  for (const name of ['reason', 'handler', 'source', 'text']) {
    const value = String(form.get(name) ?? '').trim();
    if (value) values[name] = value;
  }
  const since = Number(form.get('since'));
  if (since > 0) values.since = new Date(Date.now() - since * 1000).toISOString();
  return values;
}

async function refresh() {
  const params = new URLSearchParams({
    ...filterValues(),
    window: state.window,
    offset: String(state.offset),
    limit: String(PAGE_SIZE),
  });
  try {
    const view = await api(`/api/view?${params}`);
    if (view.total > 0 && state.offset >= view.total) {
      state.offset = Math.max(0, Math.floor((view.total - 1) / PAGE_SIZE) * PAGE_SIZE);
      return refresh();
    }
    render(view);
    $('#live').classList.remove('stale');
    // A refresh that failed (the file briefly locked, say) said so; the next one that works takes it back.
    if (state.refreshFailed) $('#message').hidden = true;
    state.refreshFailed = false;
  } catch (error) {
    $('#live').classList.add('stale');
    state.refreshFailed = true;
    say(error.message, 'error');
  }
}

function render(view) {
  state.total = view.total;
  state.rows = view.page.rows;
  $('#total').textContent = view.total.toLocaleString('en');
  renderChart(view.chart);
  renderCounts('#by-reason', view.byReason, 'reason');
  renderCounts('#by-handler', view.byHandler, 'handler');
  fillList('#reasons', view.byReason);
  fillList('#handlers', view.byHandler);
  fillList('#sources', view.sources);
  renderTable(view.page);
}

function fillList(selector, rows) {
  const list = $(selector);
  list.replaceChildren(
    ...rows.filter((row) => row.value !== null).map((row) => Object.assign(el('option'), { value: row.value })),
  );
}

function renderCounts(selector, rows, field) {
  const body = $(`${selector} tbody`);
  const max = Math.max(1, ...rows.map((row) => row.n));
  if (rows.length === 0) {
    body.replaceChildren(Object.assign(el('tr'), { className: 'empty' }));
    body.firstChild.append(el('td', 'none'));
    return;
  }
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = el('tr');
      tr.dataset.value = row.value ?? '';
      const name = el('td', row.value ?? '(none)', row.value === null ? 'muted' : 'name');
      const bar = el('td', undefined, 'bar');
      const fill = el('span');
      fill.style.width = `${(100 * row.n) / max}%`;
      bar.append(fill);
      tr.append(name, bar, el('td', row.n.toLocaleString('en'), 'n'));
      if (row.value !== null) {
        tr.title = `show only ${field} ${row.value}`;
        tr.addEventListener('click', () => {
          $('#filters').elements[field].value = row.value;
          filtersChanged();
        });
      }
      return tr;
    }),
  );
}

let plot;
function renderChart(chart) {
  $('#chart-title').textContent = `The last ${chart.window}, by reason`;
  const xs = Array.from({ length: chart.buckets }, (_, i) => chart.start + i * chart.bucket);
  const index = new Map(xs.map((x, i) => [x, i]));
  const bands = new Map();
  for (const row of chart.rows) {
    const name = row.reason ?? OTHER;
    if (!bands.has(name)) bands.set(name, new Array(xs.length).fill(0));
    const i = index.get(Number(row.t));
    if (i !== undefined) bands.get(name)[i] += row.n;
  }
  // Named reasons by size, "other reasons" last; stacked by drawing each cumulative sum over the one before.
  const names = [...bands.keys()].sort(
    (a, b) => (a === OTHER) - (b === OTHER) || sum(bands.get(b)) - sum(bands.get(a)),
  );
  const cumulative = [];
  let running = new Array(xs.length).fill(0);
  for (const name of names) {
    running = running.map((v, i) => v + bands.get(name)[i]);
    cumulative.push(running);
  }
  const color = (name, i) => (name === OTHER ? '#9c9c9c' : COLORS[i % COLORS.length]);
  const series = [{}];
  const data = [xs];
  for (let i = names.length - 1; i >= 0; i--) {
    series.push({
      label: names[i],
      fill: color(names[i], i),
      stroke: color(names[i], i),
      width: 0,
      paths: uPlot.paths.bars({ size: [0.9, 40] }),
      points: { show: false },
    });
    data.push(cumulative[i]);
  }
  if (names.length === 0) {
    series.push({ label: 'none', stroke: 'transparent', points: { show: false } });
    data.push(new Array(xs.length).fill(0));
  }
  const legend = $('#legend');
  legend.replaceChildren(
    ...names.map((name, i) => {
      const item = el('li', `${name}: ${sum(bands.get(name)).toLocaleString('en')}`);
      item.style.setProperty('--swatch', color(name, i));
      return item;
    }),
  );
  $('#chart').dataset.letters = String(names.reduce((total, name) => total + sum(bands.get(name)), 0));
  const width = Math.max(300, $('#chart').clientWidth);
  const options = {
    width,
    height: 220,
    legend: { show: false },
    cursor: { points: { show: false } },
    scales: {
      x: { time: true, range: [xs[0] - chart.bucket / 2, xs.at(-1) + chart.bucket / 2] },
      y: { range: (u, min, max) => [0, Math.max(4, max)] },
    },
    axes: [{}, { size: 50 }],
    series,
  };
  if (
    plot &&
    plot.series.length === series.length &&
    plot.width === width &&
    plot.windowKey === chart.window + names.join('\n')
  ) {
    plot.setData(data);
  } else {
    plot?.destroy();
    plot = new uPlot(options, data, $('#chart'));
    plot.windowKey = chart.window + names.join('\n');
  }
}

const sum = (values) => values.reduce((a, b) => a + b, 0);

function renderTable(page) {
  const body = $('#letters tbody');
  if (page.rows.length === 0) {
    const tr = el('tr', undefined, 'empty');
    const td = el('td', 'no dead letters match the filters');
    td.colSpan = 8;
    tr.append(td);
    body.replaceChildren(tr);
  } else {
    body.replaceChildren(
      ...page.rows.map((row) => {
        const tr = el('tr');
        tr.dataset.key = row.key;
        if (state.detail?.key === row.key) tr.classList.add('open');
        const box = Object.assign(el('input'), { type: 'checkbox', checked: state.selected.has(row.key) });
        box.setAttribute('aria-label', `select ${row.id}`);
        box.addEventListener('click', (event) => event.stopPropagation());
        box.addEventListener('change', () => {
          if (box.checked) state.selected.add(row.key);
          else state.selected.delete(row.key);
          selectionChanged();
        });
        const pick = el('td');
        pick.append(box);
        const preview = row.confidential ? el('td', '(confidential)', 'muted') : el('td', row.preview, 'preview');
        tr.append(
          pick,
          el('td', row.id, 'id'),
          el('td', row.reason),
          el('td', row.handler ?? '-'),
          el('td', row.source ?? '-'),
          el('td', row.attempts, 'n'),
          el('td', row.last_failed_at, 'time'),
          preview,
        );
        tr.addEventListener('click', () => openLetter(row.key));
        return tr;
      }),
    );
  }
  const first = page.rows.length === 0 ? 0 : page.offset + 1;
  $('#range').textContent =
    `${first.toLocaleString('en')}–${(page.offset + page.rows.length).toLocaleString('en')} of ${state.total.toLocaleString('en')}`;
  $('#prev').disabled = page.offset === 0;
  $('#next').disabled = page.offset + page.rows.length >= state.total;
  $('#select-page').checked = page.rows.length > 0 && page.rows.every((row) => state.selected.has(row.key));
  $('#replay-filtered').textContent = `Replay all filtered (${state.total.toLocaleString('en')})`;
  $('#purge-filtered').textContent = `Purge all filtered (${state.total.toLocaleString('en')})`;
  $('#replay-filtered').disabled = $('#purge-filtered').disabled = state.total === 0;
  selectionChanged();
}

function selectionChanged() {
  const n = state.selected.size;
  $('#replay-selected').textContent = `Replay selected (${n})`;
  $('#purge-selected').textContent = `Purge selected (${n})`;
  $('#replay-selected').disabled = $('#purge-selected').disabled = n === 0;
  if (!state.config?.processor)
    for (const id of ['#replay-selected', '#replay-filtered', '#replay-one']) $(id).disabled = true;
}

async function openLetter(key, reveal = false) {
  try {
    const letter = await api(`/api/letter?key=${encodeURIComponent(key)}${reveal ? '&reveal=1' : ''}`);
    state.detail = letter;
    showLetter(letter);
    for (const tr of document.querySelectorAll('#letters tbody tr'))
      tr.classList.toggle('open', tr.dataset.key === key);
  } catch (error) {
    say(error.message, 'error');
  }
}

function showLetter(letter) {
  $('#detail').hidden = false;
  $('#detail-title').textContent = `Letter ${letter.id}`;
  const fields = [
    ['key', letter.key],
    ['reason', letter.reason],
    ['handler', letter.handler ?? '-'],
    ['source', letter.source ?? '-'],
    ['attempts', letter.attempts],
    ['first failed', letter.firstFailedAt],
    ['last failed', letter.lastFailedAt],
    [
      'written by',
      letter.fingerprint
        ? `${letter.fingerprint.name} on ${letter.fingerprint.host} (pid ${letter.fingerprint.pid}${letter.fingerprint.version ? `, missive-node ${letter.fingerprint.version}` : ''})`
        : '-',
    ],
    ['confidential', letter.confidential ? 'yes' : 'no'],
    ['size', bytes(letter.bytes)],
  ];
  $('#fields').replaceChildren(...fields.flatMap(([name, value]) => [el('dt', name), el('dd', value)]));
  $('#masked').hidden = !letter.masked;
  $('#revealed').hidden = letter.masked;
  $('#mask').hidden = !(letter.confidential && !letter.masked);
  if (!letter.masked) {
    showBody();
    $('#headers').textContent = letter.headers === null ? '(none)' : JSON.stringify(letter.headers, null, 2);
    $('#error').textContent = letter.error ?? '(none)';
    $('#body-size').textContent = `(${bytes(letter.bytes)})`;
  } else {
    for (const id of ['#body', '#headers', '#error']) $(id).textContent = '';
  }
  $('#replay-one').disabled = !state.config?.processor;
  $('#detail').scrollIntoView({ block: 'nearest' });
}

function bodyBytes(letter) {
  const raw = atob(letter.bodyBase64);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function showBody() {
  const letter = state.detail;
  const data = bodyBytes(letter);
  let text;
  if (state.bodyView === 'hex') text = hexDump(data);
  else {
    const decoded = new TextDecoder('utf-8', { fatal: false }).decode(data);
    text = decoded;
    if (state.bodyView === 'json') {
      try {
        text = JSON.stringify(JSON.parse(decoded), null, 2);
      } catch {
        text = `(not JSON; shown as text)\n${decoded}`;
      }
    }
  }
  $('#body').textContent = text;
  for (const button of document.querySelectorAll('#body-views [data-view]'))
    button.classList.toggle('on', button.dataset.view === state.bodyView);
}

function hexDump(data) {
  const lines = [];
  for (let at = 0; at < data.length; at += 16) {
    const slice = data.subarray(at, at + 16);
    const hex = [...slice].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...slice].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${at.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join('\n');
}

const bytes = (n) => (n === 1 ? '1 byte' : `${Number(n).toLocaleString('en')} bytes`);

function confirmDialog(text) {
  const dialog = $('#confirm');
  $('#confirm-text').textContent = text;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) =>
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }),
  );
}

async function act(action, selection, what) {
  if (!token()) {
    say('replay and purge need the token: open the URL missive dlq serve printed (it ends in #token=...)', 'error');
    return;
  }
  const verb = action === 'replay' ? 'Replay' : 'Purge';
  const consequence =
    action === 'replay'
      ? 'Handled letters leave the store; those that fail again stay, with one more attempt.'
      : 'They are deleted for good.';
  if (!(await confirmDialog(`${verb} ${what}? ${consequence}`))) return;
  try {
    const outcome = await api(`/api/${action}`, { method: 'POST', body: selection });
    say(
      action === 'replay'
        ? `replayed ${outcome.replayed}: ${outcome.handled} handled, ${outcome.failedAgain} failed again`
        : `purged ${outcome.purged} dead letter${outcome.purged === 1 ? '' : 's'}`,
      'ok',
    );
    if (selection.keys) for (const key of selection.keys) state.selected.delete(key);
    else state.selected.clear();
    if (state.detail && (action === 'purge' || selection.filter || selection.keys.includes(state.detail.key)))
      closeDetail();
  } catch (error) {
    say(`${verb} failed: ${error.message}`, 'error');
  }
  await refresh();
}

const letters = (n) => (n === 1 ? '1 dead letter' : `${n.toLocaleString('en')} dead letters`);

function closeDetail() {
  state.detail = null;
  $('#detail').hidden = true;
  for (const tr of document.querySelectorAll('#letters tbody tr.open')) tr.classList.remove('open');
}

let typing;
function filtersChanged() {
  state.offset = 0;
  clearTimeout(typing);
  typing = setTimeout(refresh, 250);
}

function wire() {
  const form = $('#filters');
  form.addEventListener('input', filtersChanged);
  form.addEventListener('change', filtersChanged);
  form.addEventListener('submit', (event) => event.preventDefault());
  form.addEventListener('reset', () => setTimeout(filtersChanged));
  for (const button of document.querySelectorAll('#windows button')) {
    button.addEventListener('click', () => {
      state.window = button.dataset.window;
      for (const other of document.querySelectorAll('#windows button')) other.classList.toggle('on', other === button);
      refresh();
    });
    button.classList.toggle('on', button.dataset.window === state.window);
  }
  $('#prev').addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - PAGE_SIZE);
    refresh();
  });
  $('#next').addEventListener('click', () => {
    state.offset += PAGE_SIZE;
    refresh();
  });
  $('#select-page').addEventListener('change', (event) => {
    for (const row of state.rows) event.target.checked ? state.selected.add(row.key) : state.selected.delete(row.key);
    for (const box of document.querySelectorAll('#letters tbody input[type=checkbox]'))
      box.checked = event.target.checked;
    selectionChanged();
  });
  $('#replay-selected').addEventListener('click', () =>
    act('replay', { keys: [...state.selected] }, `the ${letters(state.selected.size)} selected`),
  );
  $('#purge-selected').addEventListener('click', () =>
    act('purge', { keys: [...state.selected] }, `the ${letters(state.selected.size)} selected`),
  );
  $('#replay-filtered').addEventListener('click', () =>
    act('replay', { filter: filterValues() }, `every one of the ${letters(state.total)} the filters select`),
  );
  $('#purge-filtered').addEventListener('click', () =>
    act('purge', { filter: filterValues() }, `every one of the ${letters(state.total)} the filters select`),
  );
  $('#replay-one').addEventListener('click', () =>
    act('replay', { keys: [state.detail.key] }, `letter ${state.detail.id}`),
  );
  $('#purge-one').addEventListener('click', () =>
    act('purge', { keys: [state.detail.key] }, `letter ${state.detail.id}`),
  );
  $('#close-detail').addEventListener('click', closeDetail);
  $('#reveal').addEventListener('click', () => {
    if (!token())
      return say('revealing a confidential letter needs the token: open the URL missive dlq serve printed', 'error');
    openLetter(state.detail.key, true);
  });
  $('#mask').addEventListener('click', () => openLetter(state.detail.key, false));
  for (const button of document.querySelectorAll('#body-views [data-view]')) {
    button.addEventListener('click', () => {
      state.bodyView = button.dataset.view;
      showBody();
    });
  }
  $('#message').addEventListener('click', () => ($('#message').hidden = true));
}

async function start() {
  wire();
  try {
    state.config = await api('/api/config');
    $('#file').textContent = state.config.file;
    $('#token-state').textContent = state.config.hasToken
      ? state.config.processor
        ? `replays go through ${state.config.processor}`
        : 'no --processor: replay is off'
      : 'read only: open the URL with #token= to replay and purge';
  } catch (error) {
    say(error.message, 'error');
    return;
  }
  await refresh();
  setInterval(() => {
    if (document.visibilityState === 'visible') refresh();
  }, REFRESH_MS);
}

start();
