'use strict';
/*
 * Tape blotter, the browser side. The protocol is docs/blotter.md.
 *
 * The page keeps one store per table (Map id -> row), the source of truth;
 * every AG Grid panel is a view of one store.
 * - The big tables (BIG: parents, children, executions; the OMS bench's day has
 *   100k, 250k and 570k rows) use AG Grid's infinite row model: the grid asks
 *   for the rows it shows and the page answers from the store, filtered and
 *   sorted here (filterRows/sortIds). A changed row is redrawn in place, new
 *   rows extend the count: the work per update is proportional to the rows
 *   changed and shown, never to the size of the day. (AG Grid's client-side
 *   model re-runs its pipeline over every row per transaction: ~300 ms at 570k
 *   rows, which would hold up every message behind it.)
 * - The small ones (alerts, sessions, market) use the client-side model: a full
 *   picture replaces their rowData once, live updates go in as transactions.
 */
(() => {

const VIEWS = ['parents', 'children', 'executions', 'alerts', 'sessions', 'market'];
const BIG = new Set(['parents', 'children', 'executions']);   // infinite row model (see the top)
const DEFAULT_VIEWS = ['parents', 'children', 'alerts', 'market', 'executions', 'sessions'];
const SEVERITIES = ['CRITICAL', 'ERROR', 'WARNING', 'INFO'];
const SEV_SHORT = {CRITICAL: 'CRIT', ERROR: 'ERR', WARNING: 'WARN', INFO: 'INFO'};
const DONE = new Set(['filled', 'canceled', 'rejected', 'done_for_day', 'expired']);
const LS_LAYOUTS = 'tape.blotter.layouts';
const LS_LAST = 'tape.blotter.lastLayout';
// The rows chunks of a full picture end with the next non-`rows` message. With
// nothing after it (a finished day, a seek), the grids get the picture after
// a short quiet time, and tapeBlotter.ready waits for a longer one. If a slow
// server pauses longer mid-picture, the later chunks reopen it (onRows).
const PICTURE_SETTLE_MS = 250;
const PICTURE_READY_MS = 1500;

const $ = sel => document.querySelector(sel);
const esc = s => String(s ?? '').replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`);
const cssName = s => String(s ?? '').replace(/[^A-Za-z0-9_-]/g, '_');

// ---------------------------------------------------------------- state

const S = {
  me: null,          // {user, role, csrf} from /api/me or /api/login
  hello: null,
  canAct: false,
  ws: null,
  backoff: 500,
  started: false,    // panels built (on the first hello)
  viewMode: null,    // live / replay / finished: what the picture is
  seq: 0, ts: 0, lastSeq: 0,
  stores: Object.fromEntries(VIEWS.map(v => [v, new Map()])),
  order: Object.fromEntries(VIEWS.map(v => [v, []])),   // ids in arrival order: the unsorted view
  childIndex: new Map(),   // parent_id -> Set of child ids (detail pane, O(children of one order))
  stale: new Set(),        // symbols whose market row is stale
  pictureOpen: false,      // between a reset and the next non-rows message
  picturePending: false,   // the stores hold rows the grids have not been given yet
  pictureTimer: 0,
  readyTimer: 0,
  lastWork: 0,             // performance.now() at the end of the last picture work
  panels: [],
  detail: null,            // {orderId, api (its children grid), childId, chart, eventsTimer}
  actionN: 0,
  pendingActions: new Map(),
  seekTarget: undefined,   // a seek not answered yet: its seq, or null (back to live)
  sliderHeld: false,
  playTimer: 0,
  posFrame: 0, moveSlider: false,   // the header's position, drawn once a frame (drawPosition)
  confirmCb: null,
};

// Test/bench hook (see the brief): cheap counters only.
const TB = window.tapeBlotter = {
  ready: false,
  count: table => (S.stores[table] ? S.stores[table].size : 0),
  stats: {updates: 0, messages: 0, lastSeq: 0, maxFlushMs: 0},   // maxFlushMs: the longest grid flush
  lagSamples: [],   // when recordLag: seq, arrival ms, sent ms of every row update, flat
  recordLag: false,
};

// ---------------------------------------------------------------- formatting

// Stream times are ns since the epoch (UTC); the desk reads New York time.
// Intl is slow per call, so we ask it for the zone's offset once per UTC hour
// (offsets only change on hour boundaries) and do the rest with arithmetic:
// this is what keeps sorting/filtering/quick-filtering time columns cheap.
const NY_PARTS = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/New_York', hourCycle: 'h23', year: 'numeric', month: '2-digit',
  day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit'});
const nyOffsets = new Map();
function nyOffset(ms) {
  const hour = Math.floor(ms / 3600000);
  let off = nyOffsets.get(hour);
  if (off === undefined) {
    const p = {};
    for (const x of NY_PARTS.formatToParts(hour * 3600000)) p[x.type] = x.value;
    off = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second) - hour * 3600000;
    nyOffsets.set(hour, off);
  }
  return off;
}
const pad = (n, w = 2) => String(n).padStart(w, '0');
function fmtTime(ns, withMs = true) {
  if (ns == null || ns === '' || !isFinite(ns) || ns <= 0) return '';
  const ms = Math.floor(ns / 1e6);
  const d = ((ms + nyOffset(ms)) % 86400000 + 86400000) % 86400000;
  const s = `${pad(Math.floor(d / 3600000))}:${pad(Math.floor(d / 60000) % 60)}:${pad(Math.floor(d / 1000) % 60)}`;
  return withMs ? `${s}.${pad(d % 1000, 3)}` : s;
}
const fmtHM = ns => fmtTime(ns, false).slice(0, 5);

const PX = new Intl.NumberFormat('en-US', {minimumFractionDigits: 2, maximumFractionDigits: 4});
const QTY = new Intl.NumberFormat('en-US', {maximumFractionDigits: 0});
const BPS = new Intl.NumberFormat('en-US', {minimumFractionDigits: 1, maximumFractionDigits: 1});
const fmtNum = (f, v) => (v == null || v === '' || Number.isNaN(+v) ? '' : f.format(v));
const fmtPx = v => fmtNum(PX, v);
const fmtQty = v => fmtNum(QTY, v);
const fmtBps = v => fmtNum(BPS, v);
const fmtCompact = v => (v >= 1e6 ? `${+(v / 1e6).toFixed(1)}M` : v >= 1e3 ? `${+(v / 1e3).toFixed(1)}k` : String(Math.round(v)));

// ---------------------------------------------------------------- columns

const HEAD = {
  cl_ord_id: 'ClOrdID', limit_px: 'limit', avg_px: 'avg px', ivwap: 'iVWAP', slippage_bps: 'slip bps',
  arrived_ts: 'arrived', updated_ts: 'updated', sent_ts: 'sent', quote_ts: 'quote time',
  quote_age_s: 'age s', bid_size: 'bid size', ask_size: 'ask size', venue_order_id: 'venue ord id',
  last_event: 'last event', ord_type: 'type', parent_id: 'parent', exec_id: 'exec id',
  order_id: 'order', child_id: 'child',
};
const head = f => HEAD[f] || f.replace(/_/g, ' ');
const col = (field, extra) => ({field, headerName: head(field), filter: 'agTextColumnFilter', ...extra});
const numCol = (field, fmt, extra) => col(field, {
  filter: 'agNumberColumnFilter', type: 'rightAligned', cellClass: 'num',
  valueFormatter: p => fmt(p.value), width: 95, ...extra});
const pxCol = (f, extra) => numCol(f, fmtPx, extra);
const qtyCol = (f, extra) => numCol(f, fmtQty, extra);
const seqCol = () => numCol('seq', v => (v == null ? '' : String(v)), {width: 90});
// Times sort by the raw ns but filter and quick-filter (AG Grid's quick filter
// reads the filter value) on what the user sees.
const timeCol = (field, extra) => col(field, {
  cellClass: 'num', width: 108, valueFormatter: p => fmtTime(p.value),
  filterValueGetter: p => fmtTime(p.data[field]), ...extra});
const enumCol = (field, prefix, extra) => col(field, {cellClass: p => `pill ${prefix}-${cssName(p.value)}`, ...extra});
const sideCol = () => col('side', {width: 70, cellClass: p => `side-${cssName(p.value).split('_')[0]}`});

function columnsFor(view) {
  switch (view) {
    case 'parents': {
      const cols = [
        // The expand toggle: its value is the id so the grid re-renders it on
        // refreshCells when the detail pane opens or closes.
        {colId: '_expand', headerName: '', width: 34, pinned: 'left', sortable: false, filter: false,
          resizable: false, suppressMovable: true, valueGetter: p => p.data && p.data.id,
          cellClass: 'expand-cell',
          cellRenderer: p => `<span class="expander" title="Order detail">${S.detail && S.detail.orderId === p.value ? '▾' : '▸'}</span>`},
        col('id', {headerName: 'order', width: 110}), col('client', {width: 80}), col('cl_ord_id', {width: 110}),
        col('symbol', {width: 75}), sideCol(), qtyCol('qty'), col('ord_type', {width: 70}), pxCol('limit_px'),
        col('algo', {width: 70}), enumCol('status', 'st', {width: 115}), qtyCol('filled'), qtyCol('leaves'),
        pxCol('avg_px'), pxCol('ivwap'), numCol('slippage_bps', fmtBps, {width: 80}), qtyCol('children', {width: 80}),
        timeCol('arrived_ts'), timeCol('updated_ts'), seqCol(),
      ];
      if (S.canAct) {
        // valueGetter on status: the button is redrawn when the order's status changes.
        cols.push({colId: '_actions', headerName: 'action', width: 80, pinned: 'right', sortable: false,
          filter: false, valueGetter: p => p.data && p.data.status,
          cellRenderer: p => (p.data ? `<button type="button" class="cancel-btn" data-order-id="${esc(p.data.id)}"${DONE.has(p.data.status) ? ' disabled' : ''}>Cancel</button>` : '')});
      }
      return cols;
    }
    case 'children':
      return [col('id', {headerName: 'child', width: 120}), col('parent_id', {width: 110}), col('client', {width: 80}),
        col('symbol', {width: 75}), sideCol(), col('venue', {width: 80}), col('destination', {width: 90}),
        qtyCol('qty'), col('ord_type', {width: 70}), pxCol('limit_px'), enumCol('status', 'st', {width: 115}),
        qtyCol('filled'), qtyCol('leaves'), pxCol('avg_px'), col('venue_order_id', {width: 110}),
        col('last_event', {width: 110}), timeCol('sent_ts'), timeCol('updated_ts'), seqCol()];
    case 'executions':
      return [timeCol('ts'), col('kind', {width: 70}), col('exec_id', {width: 110}), col('order_id', {width: 110}),
        col('child_id', {width: 120}), col('client', {width: 80}), col('symbol', {width: 75}), sideCol(),
        qtyCol('qty'), pxCol('px'), col('venue', {width: 80}), col('liquidity', {width: 80}),
        col('id', {width: 110, hide: true}), seqCol()];
    case 'alerts':
      return [timeCol('ts'), enumCol('severity', 'sev', {width: 95}), col('source', {width: 100}),
        col('code', {width: 110}), col('text', {flex: 1, minWidth: 240, tooltipField: 'text'}),
        col('id', {width: 90, hide: true}), {...seqCol(), sort: 'desc'}];   // newest first: alerts are few
    case 'sessions':
      return [col('kind', {width: 75}), col('name', {width: 120, sort: 'asc'}), col('counterparty', {width: 120}),
        enumCol('status', 'sess', {width: 80}), col('reason', {flex: 1, minWidth: 160}), timeCol('ts'),
        col('id', {width: 90, hide: true}), seqCol()];
    case 'market':
      return [col('symbol', {width: 80, sort: 'asc'}), pxCol('bid'), pxCol('ask'), qtyCol('bid_size', {width: 85}),
        qtyCol('ask_size', {width: 85}), pxCol('last'), qtyCol('volume', {width: 110}), timeCol('quote_ts'),
        numCol('quote_age_s', fmtBps, {width: 70}), enumCol('state', 'mk', {width: 90}), col('phase', {width: 80}),
        col('stale', {width: 65, filter: 'agTextColumnFilter', valueFormatter: p => (p.value ? 'STALE' : '')}), seqCol()];
    default:
      return [];
  }
}

// Dense, light, quiet: the grid is a working tool.
const THEME = agGrid.themeQuartz.withParams({
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  fontSize: 12, headerFontSize: 12, spacing: 4, wrapperBorderRadius: 0,
  headerBackgroundColor: '#eef1f5', foregroundColor: '#1c2430', borderColor: '#d5dbe3',
  rowHoverColor: '#eaf2ff', selectedRowBackgroundColor: '#dbe8ff', accentColor: '#2563eb',
});

const GRID_BASE = {
  theme: THEME,
  rowHeight: 24, headerHeight: 26, floatingFiltersHeight: 26,
  getRowId: p => p.data.id,
  animateRows: false,
  asyncTransactionWaitMillis: 16,   // the panels batch by themselves (pushRows)
  deltaSort: true,          // re-sort only the rows a transaction touched
  cacheQuickFilter: true,   // 250k rows: build each row's quick-filter text once
  // Quick filter: every word must match, and "a phrase" in quotes matches as one
  // (AG Grid hands the parser the text upper-cased).
  quickFilterParser: text => quickWords(text),
  // Every column in the DOM (a row is ~20 cells, only the visible rows are):
  // a row's text can be found whatever the panel's width.
  suppressColumnVirtualisation: true,
  suppressDragLeaveHidesColumns: true,
  enableCellTextSelection: true,
  defaultColDef: {sortable: true, resizable: true, filter: true, floatingFilter: true, width: 100, minWidth: 30},
};

// Quick filter words: every word must match, and "a phrase" in quotes matches as one.
const quickWords = text => (String(text).match(/"[^"]*"?|\S+/g) || []).map(w => w.replace(/"/g, '')).filter(Boolean);

// ---------------------------------------------------------------- the big grids' rows

// What a column's filters and the quick filter read: the value the user sees
// for times, the raw value otherwise (as AG Grid's own filters do).
function filterText(def, row) {
  const v = def.filterValueGetter ? def.filterValueGetter({data: row}) : row[def.field];
  return v == null ? '' : String(v);
}

const TEXT_TESTS = {
  contains: (v, f) => v.includes(f), notContains: (v, f) => !v.includes(f),
  equals: (v, f) => v === f, notEqual: (v, f) => v !== f,
  startsWith: (v, f) => v.startsWith(f), endsWith: (v, f) => v.endsWith(f),
  blank: v => v === '', notBlank: v => v !== '',
};
const NUM_TESTS = {
  equals: (x, a) => x === a, notEqual: (x, a) => x !== a,
  lessThan: (x, a) => x < a, lessThanOrEqual: (x, a) => x <= a,
  greaterThan: (x, a) => x > a, greaterThanOrEqual: (x, a) => x >= a,
  inRange: (x, a, b) => x > a && x < b,   // AG Grid's default: both ends excluded
};

// One column's filter model (AG Grid's shape: a condition, or conditions joined
// by AND/OR) against one row.
function passes(m, def, row) {
  if (Array.isArray(m.conditions)) {
    const rs = m.conditions.map(c => passes(c, def, row));
    return m.operator === 'OR' ? rs.some(Boolean) : rs.every(Boolean);
  }
  if (m.filterType === 'number') {
    const x = row[def.field];
    if (m.type === 'blank') return x == null || x === '';
    if (m.type === 'notBlank') return !(x == null || x === '');
    const t = NUM_TESTS[m.type];
    return x == null || x === '' ? false : !t || t(+x, +m.filter, +m.filterTo);
  }
  const t = TEXT_TESTS[m.type];
  return !t || t(filterText(def, row).toLowerCase(), String(m.filter ?? '').toLowerCase());
}

const quickTexts = new WeakMap();   // row object -> its upper-cased text (a changed row is a new object)
function quickText(defs, row) {
  let t = quickTexts.get(row);
  if (t === undefined) {
    t = defs.filter(d => d.field).map(d => filterText(d, row)).join(' ').toUpperCase();
    quickTexts.set(row, t);
  }
  return t;
}

function compareBy(sortModel, defs) {
  const keys = sortModel.map(s => ({field: (defs.find(d => (d.colId || d.field) === s.colId) || {}).field || s.colId,
    dir: s.sort === 'desc' ? -1 : 1}));
  return (a, b) => {
    for (const k of keys) {
      const x = a[k.field], y = b[k.field];
      const xn = x == null || x === '', yn = y == null || y === '';
      const c = xn || yn ? (xn === yn ? 0 : xn ? -1 : 1) : x < y ? -1 : x > y ? 1 : 0;
      if (c) return c * k.dir;
    }
    return 0;   // Array.prototype.sort is stable: ties keep arrival order
  };
}

// A big panel's view: the ids it shows, in order. With no filter and no sort it
// is the table's arrival order itself (shared, appended to, never copied);
// otherwise it is computed here and kept until the data or the criteria change.
function viewIds(p) {
  if (!p.filtered) return S.order[p.view];
  if (p.ids && !p.stale) return p.ids;
  const t0 = performance.now();
  const store = S.stores[p.view], defs = p.defs;
  const fm = Object.entries(p.filterModel || {}).map(([colId, m]) =>
    [m, defs.find(d => (d.colId || d.field) === colId) || {field: colId}]);
  const words = quickWords(p.quick).map(w => w.toUpperCase());
  let rows = [];
  for (const id of S.order[p.view]) {
    const r = store.get(id);
    if (fm.every(([m, d]) => passes(m, d, r)) && words.every(w => quickText(defs, r).includes(w))) rows.push(r);
  }
  if (p.sortModel && p.sortModel.length) rows = rows.sort(compareBy(p.sortModel, defs));
  p.ids = rows.map(r => r.id);
  p.stale = false;
  const ms = performance.now() - t0;
  p.cost = p.cost ? 0.7 * p.cost + 0.3 * ms : ms;
  return p.ids;
}

function setCriteria(p, sortModel, filterModel) {
  p.sortModel = sortModel || [];
  p.filterModel = filterModel || {};
  p.filtered = p.sortModel.length > 0 || Object.keys(p.filterModel).length > 0 || quickWords(p.quick).length > 0;
  p.stale = true;
}

// AG Grid's infinite-model datasource for a big panel: answered at once from the store.
function datasourceFor(p) {
  return {getRows: params => {
    const key = JSON.stringify([params.sortModel, params.filterModel]);
    if (key !== p.criteria) { p.criteria = key; setCriteria(p, params.sortModel, params.filterModel); }
    const ids = viewIds(p), store = S.stores[p.view], rows = [];
    for (let i = params.startRow; i < Math.min(params.endRow, ids.length); i++) rows.push(store.get(ids[i]));
    p.rowCount = ids.length;
    if (params.endRow > ids.length) p.partial = true;   // a short last block: new rows must refill it
    params.successCallback(rows, ids.length);
    updateCount(p);
  }};
}

// The big panel shows its view again: the count and the rows it has loaded.
function refreshBig(p) {
  clearTimeout(p.queueTimer);
  p.queue = null;
  const t0 = performance.now();
  if (p.filtered) p.stale = true;
  const n = viewIds(p).length;
  if (n !== p.rowCount) { p.rowCount = n; p.api.setRowCount(n, true); }
  // Re-asking for the loaded blocks redraws every shown row: only when what they
  // hold moved (a filter or sort) or a short last block has new rows to take.
  if (p.filtered || p.partial) { p.partial = false; p.api.refreshInfiniteCache(); }
  updateCount(p);
  const ms = performance.now() - t0;
  if (!p.filtered) p.cost = p.cost ? 0.7 * p.cost + 0.3 * ms : ms;
  if (ms > TB.stats.maxFlushMs) TB.stats.maxFlushMs = Math.round(ms);
}

// ---------------------------------------------------------------- panels

// The grids keep the stream's order (new rows at the end) unless sorted: a
// new row at the top would renumber every row of a 300k-row grid per flush.
function gridRows(view) {
  return Array.from(S.stores[view].values());
}

function createPanel(view, spec = {}) {
  const el = document.createElement('section');
  el.className = 'panel';
  el.dataset.view = view;
  const sev = new Set(Array.isArray(spec.sev) ? spec.sev.filter(s => SEVERITIES.includes(s)) : SEVERITIES);
  el.innerHTML = `<div class="panel-head">
      <span class="panel-title">${esc(view)}</span><span class="panel-count"></span>
      <input class="panel-filter" type="search" placeholder="quick filter" value="${esc(spec.quick || '')}">
      ${view === 'alerts' ? `<span class="sev-filter">${SEVERITIES.map(s => `<label class="sev-${s}" title="${s}"><input type="checkbox" value="${s}"${sev.has(s) ? ' checked' : ''}>${SEV_SHORT[s]}</label>`).join('')}</span>` : ''}
      <details class="col-chooser"><summary title="Show or hide columns">Columns</summary><div class="col-menu"></div></details>
      <button type="button" class="panel-close" title="Close this view">✕</button>
    </div><div class="panel-grid"></div>`;
  $('#panels').appendChild(el);
  const big = BIG.has(view);
  const panel = {view, el, sev, big, quick: spec.quick || '', api: null, countEl: el.querySelector('.panel-count'),
    sorted: false, queue: null, queueTimer: 0, dueAt: 0, cost: 0,
    // big panels: the view's criteria and ids (viewIds), the count the grid has
    defs: columnsFor(view), criteria: null, sortModel: [], filterModel: {}, filtered: false,
    ids: null, stale: true, rowCount: 0, partial: false};
  const rows = big ? {rowModelType: 'infinite', datasource: datasourceFor(panel), cacheBlockSize: 100,
    maxBlocksInCache: 40, blockLoadDebounceMillis: 0,
    infiniteInitialRowCount: 1}   // with 0 the grid never asks for rows (after a new sort or filter too)
    : {rowData: S.picturePending ? [] : gridRows(view), quickFilterText: panel.quick};
  panel.api = agGrid.createGrid(el.querySelector('.panel-grid'), {
    ...GRID_BASE,
    columnDefs: panel.defs,
    ...rows,
    isExternalFilterPresent: () => view === 'alerts' && panel.sev.size < SEVERITIES.length,
    doesExternalFilterPass: node => panel.sev.has(node.data.severity),
    rowClassRules: view === 'market' ? {'row-stale': p => !!(p.data && p.data.stale)} : undefined,
    onRowDoubleClicked: view === 'parents' ? e => e.data && openDetail(e.data.id) : undefined,
    onCellClicked: view === 'parents' ? e => { if (e.column.getColId() === '_expand' && e.data) toggleDetail(e.data.id); } : undefined,
    onModelUpdated: () => updateCount(panel),
    onSortChanged: () => { panel.sorted = panel.api.getColumnState().some(c => c.sort); },
  });
  if (Array.isArray(spec.columnState)) panel.api.applyColumnState({state: spec.columnState, applyOrder: true});
  if (spec.filterModel && typeof spec.filterModel === 'object') panel.api.setFilterModel(spec.filterModel);
  panel.sorted = panel.api.getColumnState().some(c => c.sort);

  let qt = 0;
  el.querySelector('.panel-filter').addEventListener('input', e => {
    panel.quick = e.target.value;
    clearTimeout(qt);   // one grid-wide filter pass per pause in typing, not per key
    qt = setTimeout(() => {
      if (!panel.big) { panel.api.setGridOption('quickFilterText', panel.quick); return; }
      setCriteria(panel, panel.sortModel, panel.filterModel);
      panel.api.purgeInfiniteCache();
    }, 120);
  });
  const sf = el.querySelector('.sev-filter');
  if (sf) sf.addEventListener('change', e => {
    if (e.target.checked) panel.sev.add(e.target.value); else panel.sev.delete(e.target.value);
    panel.api.onFilterChanged();
  });
  const chooser = el.querySelector('.col-chooser');
  chooser.addEventListener('toggle', () => { if (chooser.open) fillColumnMenu(panel, chooser.querySelector('.col-menu')); });
  chooser.querySelector('.col-menu').addEventListener('change', e => {
    if (e.target.matches('input[type=checkbox]')) panel.api.setColumnsVisible([e.target.value], e.target.checked);
  });
  el.querySelector('.panel-close').addEventListener('click', () => removePanel(panel));
  el.addEventListener('click', e => {
    const b = e.target.closest('button.cancel-btn');
    if (b && !b.disabled) confirmCancel(b.dataset.orderId);
  });
  S.panels.push(panel);
  return panel;
}

function fillColumnMenu(panel, menu) {
  menu.innerHTML = panel.api.getColumns()
    .filter(c => !c.getColId().startsWith('_'))
    .map(c => `<label><input type="checkbox" value="${esc(c.getColId())}"${c.isVisible() ? ' checked' : ''}>${esc(c.getColDef().headerName || c.getColId())}</label>`)
    .join('');
}

function removePanel(panel) {
  dropQueue(panel);
  panel.api.destroy();
  panel.el.remove();
  S.panels = S.panels.filter(p => p !== panel);
}

function updateCount(panel) {
  const total = S.stores[panel.view].size;
  if (!panel.api) return;   // a big panel's first rows can be asked for while the grid is built
  const shown = panel.big ? panel.rowCount : panel.api.getDisplayedRowCount();
  panel.countEl.textContent = shown === total ? QTY.format(total) : `${QTY.format(shown)} / ${QTY.format(total)}`;
}

// ---------------------------------------------------------------- layouts

function layoutState() {
  return {version: 1, panels: S.panels.map(p => ({
    view: p.view, quick: p.quick, sev: [...p.sev],
    columnState: p.api.getColumnState(), filterModel: p.api.getFilterModel()}))};
}

function applyLayout(layout) {
  if (!layout || !Array.isArray(layout.panels)) throw new Error('not a blotter layout');
  for (const p of [...S.panels]) removePanel(p);
  for (const spec of layout.panels) if (spec && VIEWS.includes(spec.view)) createPanel(spec.view, spec);
}

function savedLayouts() {
  try { return JSON.parse(localStorage.getItem(LS_LAYOUTS) || '{}') || {}; } catch { return {}; }
}
function storeLayout(name, layout) {
  const all = savedLayouts();
  all[name] = layout;
  localStorage.setItem(LS_LAYOUTS, JSON.stringify(all));
  localStorage.setItem(LS_LAST, name);
  fillLayoutNames();
}
function fillLayoutNames() {
  $('#layout-names').innerHTML = Object.keys(savedLayouts()).map(n => `<option value="${esc(n)}">`).join('');
}
const layoutName = () => $('#layout-name').value.trim() || 'default';

function restoreLastLayout() {
  const name = localStorage.getItem(LS_LAST);
  const saved = name && savedLayouts()[name];
  if (saved) {
    try { applyLayout(saved); $('#layout-name').value = name; return; } catch (e) { note(`layout ${name}: ${e.message}`, 'error'); }
  }
  applyLayout({panels: DEFAULT_VIEWS.map(view => ({view}))});
}

function bindLayoutControls() {
  fillLayoutNames();
  $('#add-view').innerHTML = VIEWS.map(v => `<option>${v}</option>`).join('');
  $('#add-view-btn').addEventListener('click', () => {
    const p = createPanel($('#add-view').value);
    p.el.scrollIntoView({block: 'nearest'});
  });
  $('#layout-save').addEventListener('click', () => {
    storeLayout(layoutName(), layoutState());
    note(`layout "${layoutName()}" saved`);
  });
  $('#layout-load').addEventListener('click', () => {
    const name = layoutName(), saved = savedLayouts()[name];
    if (!saved) { note(`no saved layout "${name}"`, 'error'); return; }
    applyLayout(saved);
    localStorage.setItem(LS_LAST, name);
  });
  $('#layout-export').addEventListener('click', () => {
    const blob = new Blob([JSON.stringify({name: layoutName(), ...layoutState()}, null, 2)], {type: 'application/json'});
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `tape-blotter-layout-${cssName(layoutName())}.json`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  });
  $('#layout-import').addEventListener('change', async e => {
    const file = e.target.files && e.target.files[0];
    e.target.value = '';   // importing the same file twice must fire change again
    if (!file) return;
    try {
      const layout = JSON.parse(await file.text());
      applyLayout(layout);
      if (typeof layout.name === 'string' && layout.name) {
        $('#layout-name').value = layout.name;
        storeLayout(layout.name, layoutState());
      }
      note(`layout imported from ${file.name}`);
    } catch (err) {
      note(`cannot import ${file.name}: ${err.message}`, 'error');
    }
  });
}

// ---------------------------------------------------------------- the stream

function send(msg) {
  if (S.ws && S.ws.readyState === WebSocket.OPEN) { S.ws.send(JSON.stringify(msg)); return true; }
  return false;
}

function connect() {
  setConn('connecting');
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`);
  S.ws = ws;
  ws.onmessage = e => { if (S.ws === ws) onMessage(JSON.parse(e.data)); };
  ws.onclose = () => {
    if (S.ws !== ws) return;   // a socket we dropped on purpose (logout)
    S.ws = null;
    stopPlay();
    S.seekTarget = undefined;
    setConn('disconnected');
    const delay = S.backoff;
    S.backoff = Math.min(5000, S.backoff * 2);
    setTimeout(reconnect, delay);
  };
}

// A closed socket may mean the session is gone: ask before retrying blindly.
async function reconnect() {
  try {
    const r = await fetch('/api/me', {credentials: 'same-origin'});
    if (r.status === 401) { showLogin('Your session ended: sign in again.'); return; }
  } catch { /* server down: fall through and keep trying the socket */ }
  connect();
}

function onMessage(m) {
  TB.stats.messages++;
  if (m.t !== 'rows' && m.t !== 'reset' && S.pictureOpen) closePicture();
  switch (m.t) {
    case 'hello': return onHello(m);
    case 'reset': return onReset(m);
    case 'rows': return onRows(m);
    case 'update': onUpdate(m); return flushDue();
    case 'clock': return setPosition(null, null, m.last_seq);   // a page in the past: where live is
    case 'events': return onEvents(m);
    case 'chart': return onChart(m);
    case 'action_result': return onActionResult(m);
    case 'error': S.seekTarget = undefined; return note(m.text || 'server error', 'error');
    default: return undefined;
  }
}

function onHello(m) {
  S.hello = m;
  S.backoff = 500;
  S.viewMode = m.mode || 'live';
  $('#user-badge').textContent = `${m.user} (${m.role})`;
  $('#day-label').textContent = [m.day, m.date].filter(Boolean).join(' · ');
  if (S.started && S.canAct !== !!m.can_act) { location.reload(); return; }   // another user signed in
  if (!S.started) {
    S.started = true;
    S.canAct = !!m.can_act;
    if (S.canAct) setupActions();
    restoreLastLayout();
  }
  setConn(S.viewMode);
}

function onReset(m) {
  // Queued transactions belong to the old picture: push them into the grids
  // now so they cannot land after the new rowData.
  for (const p of S.panels) { dropQueue(p); if (!p.big) p.api.flushAsyncTransactions(); }
  if (S.detail) S.detail.api.flushAsyncTransactions();
  for (const st of Object.values(S.stores)) st.clear();
  for (const v of VIEWS) S.order[v] = [];
  S.childIndex.clear();
  S.stale.clear();
  S.pictureOpen = true;
  S.picturePending = true;
  if (m.mode) setConn(S.viewMode = m.mode);   // the server's word on what this picture is
  setPosition(m.seq, m.ts, m.last_seq);
  schedulePicture();
}

function onRows(m) {
  const store = S.stores[m.table];
  if (!store) return;
  if (!S.pictureOpen) {   // rows outside a picture: not in the protocol, take them as an update
    onUpdate({tables: {[m.table]: m.rows}}, false);
    return;
  }
  // Into the store only; the grids get the whole picture at once (one O(n)
  // rowData instead of a transaction per chunk). A chunk after the settle
  // timer fired makes the picture pending again.
  S.picturePending = true;
  const order = S.order[m.table];
  for (const r of m.rows) {
    const old = store.get(r.id);
    if (!old) order.push(r.id);
    if (m.table === 'children') indexChild(r, old);
    else if (m.table === 'market') markStale(r);
    store.set(r.id, r);
  }
  schedulePicture();
}


// The quiet times count from the end of our last piece of work, not from when
// the timer was set: after a long task (a big rowData) a timer may be due while
// the next chunk is already queued, and the browser may run the timer first.
function schedulePicture() {
  S.lastWork = performance.now();
  clearTimeout(S.pictureTimer);
  clearTimeout(S.readyTimer);
  S.pictureTimer = setTimeout(() => whenQuiet(PICTURE_SETTLE_MS, applyPicture, 'pictureTimer'), PICTURE_SETTLE_MS);
  S.readyTimer = setTimeout(() => whenQuiet(PICTURE_READY_MS, closePicture, 'readyTimer'), PICTURE_READY_MS);
}

function whenQuiet(ms, fn, timer) {
  const left = S.lastWork + ms - performance.now();
  if (left > 1) S[timer] = setTimeout(() => whenQuiet(ms, fn, timer), left);
  else fn();
}

function closePicture() {
  clearTimeout(S.pictureTimer);
  clearTimeout(S.readyTimer);
  S.pictureOpen = false;
  if (S.picturePending) applyPicture();
  TB.ready = true;
}

function applyPicture() {
  clearTimeout(S.pictureTimer);
  if (!S.picturePending) return;
  S.picturePending = false;
  S.seekTarget = undefined;
  for (const p of S.panels) {
    if (!p.big) { p.api.setGridOption('rowData', gridRows(p.view)); continue; }
    p.stale = true;
    p.rowCount = viewIds(p).length;
    p.api.setRowCount(p.rowCount, true);
    p.api.purgeInfiniteCache();
  }
  renderStale();
  if (S.detail) {
    S.detail.api.setGridOption('rowData', detailChildren(S.detail.orderId));
    renderDetailHeader();
    // The server's chart and events follow the picture; ask again for the new one.
    send({t: 'chart', order_id: S.detail.orderId});
    if (S.detail.childId) askEvents();
  }
  updateSlider(true);
  S.lastWork = performance.now();
}

function onUpdate(m, count = true) {
  const now = Date.now();
  const rec = TB.recordLag, sent = m.sent_ms || now;
  const tables = m.tables || {};
  for (const table of Object.keys(tables)) {
    const store = S.stores[table];
    const rows = tables[table];
    if (!store || !Array.isArray(rows)) continue;
    const order = S.order[table];
    const add = [], upd = [];
    let addedIds = null;
    const d = table === 'children' && S.detail;
    const dAdd = [], dUpd = [];
    let staleChanged = false, detailParent = false;
    for (const r of rows) {
      const old = store.get(r.id);
      if (!old) {
        add.push(r);
        order.push(r.id);
        (addedIds || (addedIds = new Set())).add(r.id);
      } else if (addedIds && addedIds.has(r.id)) {
        add[add.findIndex(x => x.id === r.id)] = r;   // same row twice in one batch: rare
      } else {
        upd.push(r);
      }
      store.set(r.id, r);
      if (table === 'children') {
        indexChild(r, old);
        if (d && r.parent_id === d.orderId) (old && old.parent_id === d.orderId ? dUpd : dAdd).push(r);
        if (d && r.id === d.childId) askEventsSoon();
      } else if (table === 'market') {
        staleChanged = markStale(r) || staleChanged;
      } else if (table === 'parents' && S.detail && r.id === S.detail.orderId) {
        detailParent = true;
      }
      if (rec) TB.lagSamples.push(r.seq, now, sent);   // flat: a million rows make no garbage
    }
    if (count) TB.stats.updates += rows.length;
    for (const p of S.panels) if (p.view === table) pushRows(p, add, upd);
    if (dAdd.length || dUpd.length) S.detail.api.applyTransactionAsync({add: dAdd, update: dUpd});
    if (staleChanged) renderStale();
    if (detailParent) renderDetailHeader();
  }
  // A forward seek in the past is answered with an update (the changes up to it), not a picture.
  const answer = typeof S.seekTarget === 'number' && m.seq != null && m.seq <= S.seekTarget;
  if (answer) S.seekTarget = undefined;
  if (m.seq != null) setPosition(m.seq, m.ts, m.last_seq, answer);
}

// Every transaction re-runs the grid's row pipeline over all its rows (filter,
// sort, row positions: O(n); ~50-150 ms at 300k rows), so each panel coalesces
// its changes and hands AG Grid one transaction per window. The window is
// eight times what the grid's last flushes took (at most 3 s), so a grid
// spends at most ~1/8 of the main thread on them however big it is or busy
// the machine. A row changing in several batches of a window goes in once.
function flushWait(p) {
  return Math.min(3000, Math.max(S.stores[p.view].size > 10000 ? 250 : 60, 8 * p.cost));
}

function pushRows(p, add, upd) {
  if (p.big) return pushBig(p, add, upd);
  if (!add.length && !p.queue && !p.sorted && !p.api.isAnyFilterPresent()) {
    // Updates only, with nothing to re-sort or re-filter: change the row nodes
    // in place, O(rows changed), with no pipeline run at all. Only when nothing
    // is queued, so an older queued version of a row cannot land after this.
    let missing = null;
    for (const r of upd) {
      const node = p.api.getRowNode(r.id);
      if (node) node.updateData(r); else (missing || (missing = [])).push(r);
    }
    if (!missing) return;
    add = missing;
    upd = [];
  }
  let q = p.queue;
  if (!q) {
    q = p.queue = {adds: new Map(), upds: new Map()};
    const wait = flushWait(p);
    p.dueAt = performance.now() + wait;
    // Normally flushed just after an update message (flushDue); this covers a stream gone quiet.
    p.queueTimer = setTimeout(() => flushPanel(p), p.cost < 15 ? wait : wait + 300);
  }
  for (const r of add) q.adds.set(r.id, r);
  // A row still waiting to be added to this grid is added with its newest version.
  for (const r of upd) (q.adds.has(r.id) ? q.adds : q.upds).set(r.id, r);
}

// A big panel: changed rows it has loaded are redrawn now; new rows, and any
// change under a filter or a sort, show at its next refresh (a window, as above).
function pushBig(p, add, upd) {
  for (const r of upd) {
    const node = p.api.getRowNode(r.id);
    if (node) node.setData(r);
  }
  if (!add.length && !(p.filtered && upd.length) || p.queue) return;
  p.queue = true;
  // Unfiltered, new rows go at the end: unseen unless the user is there, so
  // only the count waits a second (a refresh redraws the shown rows: ~30 ms).
  const wait = p.filtered ? flushWait(p) : atEnd(p) ? 250 : 1000;
  p.dueAt = performance.now() + wait;
  p.queueTimer = setTimeout(() => refreshBig(p), wait + 300);
}

function atEnd(p) {
  return p.api.getLastDisplayedRowIndex() >= p.rowCount - 2;
}

// Run after each update message: a big grid's flush then falls in the gap
// before the server's next batch (one per batch_ms) instead of holding up the
// next message. Small grids flush when due; of the big ones, only the most
// overdue, so several big flushes do not pile up in one gap.
function flushDue() {
  const now = performance.now();
  let big = null;
  for (const p of S.panels) {
    if (!p.queue || p.dueAt > now) continue;
    if (p.cost < 15) flushPanel(p);
    else if (!big || p.dueAt < big.dueAt) big = p;
  }
  if (big) flushPanel(big);
}

function flushPanel(p) {
  if (p.big) return refreshBig(p);
  const q = p.queue;
  clearTimeout(p.queueTimer);
  p.queue = null;
  if (!q) return;
  // Flushed now, in this gap (see flushDue): the panel did the batching. The
  // flush runs AG Grid's pipeline synchronously, so its time here is its cost,
  // which sizes the panel's next window.
  const t0 = performance.now();
  p.api.applyTransactionAsync({add: Array.from(q.adds.values()), update: Array.from(q.upds.values())});
  p.api.flushAsyncTransactions();
  const ms = performance.now() - t0;
  p.cost = p.cost ? 0.7 * p.cost + 0.3 * ms : ms;
  if (ms > TB.stats.maxFlushMs) TB.stats.maxFlushMs = Math.round(ms);
}

// A new picture replaces whatever was waiting.
function dropQueue(p) {
  clearTimeout(p.queueTimer);
  p.queue = null;
}

function indexChild(r, old) {
  if (old && old.parent_id !== r.parent_id) {
    const set = S.childIndex.get(old.parent_id);
    if (set) set.delete(r.id);
  }
  let set = S.childIndex.get(r.parent_id);
  if (!set) S.childIndex.set(r.parent_id, set = new Set());
  set.add(r.id);
}

// Returns true when the set of stale symbols changed.
function markStale(r) {
  const sym = r.symbol || r.id;
  if (r.stale) {
    if (S.stale.has(sym)) return false;
    S.stale.add(sym);
    return true;
  }
  return S.stale.delete(sym);
}

function renderStale() {
  const b = $('#stale-banner');
  if (!S.stale.size) { b.hidden = true; b.textContent = ''; return; }
  b.hidden = false;
  b.textContent = `Stale market data: ${[...S.stale].sort().join(', ')}`;
}

// ---------------------------------------------------------------- header, position, slider

function setConn(mode) {
  const el = $('#conn-status');
  el.textContent = mode;
  el.className = `conn conn-${mode}`;
}

function setPosition(seq, ts, lastSeq, moveSlider = false) {
  if (seq != null) S.seq = seq;
  if (ts) S.ts = ts;
  if (lastSeq) S.lastSeq = Math.max(lastSeq, S.seq);
  TB.stats.lastSeq = S.seq;
  // Drawn once a frame, however many updates arrive in it (a busy stream sends 20 a second).
  S.moveSlider = S.moveSlider || moveSlider;
  if (!S.posFrame) S.posFrame = requestAnimationFrame(drawPosition);
}

function drawPosition() {
  S.posFrame = 0;
  $('#stream-pos').textContent = `seq ${S.seq} · ${fmtTime(S.ts)}`;
  updateSlider(S.moveSlider);
  S.moveSlider = false;
}

// Live: the slider follows the stream. Replay/finished: it stays at the
// picture's seq (applyPicture, or the update answering a forward seek), and
// while the user holds it or a seek is unanswered, it stays where it was put.
function updateSlider(move) {
  const sl = $('#time-slider');
  sl.max = String(Math.max(1, S.lastSeq));
  if (S.sliderHeld || S.seekTarget !== undefined) return;
  if (S.viewMode === 'live' || move) sl.value = String(Math.max(1, S.seq));
  $('#slider-label').textContent = `seq ${S.seq} · ${fmtTime(S.ts)}`;
}

let seekTimer = 0;
function seek(seq) {
  S.viewMode = seq == null ? ((S.hello && S.hello.mode) || 'live') : 'replay';
  S.seekTarget = send({t: 'seek', seq}) ? seq : undefined;
  setConn(S.viewMode);
}

function bindSlider() {
  const sl = $('#time-slider');
  sl.addEventListener('pointerdown', () => { S.sliderHeld = true; });
  window.addEventListener('pointerup', () => { S.sliderHeld = false; });
  sl.addEventListener('input', () => {
    stopPlay();
    const n = +sl.value;
    $('#slider-label').textContent = `seq ${n} …`;
    clearTimeout(seekTimer);
    S.seekTarget = n;   // hold the slider where the user put it
    seekTimer = setTimeout(() => seek(n), 150);
  });
  $('#go-live').addEventListener('click', () => { stopPlay(); clearTimeout(seekTimer); seek(null); });
  $('#play').addEventListener('click', () => (S.playTimer ? stopPlay() : startPlay()));
}

// Replay: step the position forward every 250 ms, but only once the previous
// step's picture is in, so a slow server or a big day is never flooded. The
// step grows with the time waited, so the replay runs at a steady pace (the
// whole day in five minutes at ×1) however long each picture takes.
function startPlay() {
  const sl = $('#time-slider');
  let pos = +sl.value;
  if (pos >= S.lastSeq) pos = 1;
  let last = performance.now();
  $('#play').textContent = '❚❚ Pause';
  S.playTimer = setInterval(() => {
    if (S.seekTarget !== undefined || S.picturePending) return;
    const now = performance.now();
    const perSecond = (S.lastSeq / 300) * (+$('#play-speed').value || 1);
    pos = Math.min(S.lastSeq, pos + Math.max(1, Math.round((perSecond * (now - last)) / 1000)));
    last = now;
    sl.value = String(pos);
    seek(pos);
    if (pos >= S.lastSeq) stopPlay();
  }, 250);
}
function stopPlay() {
  clearInterval(S.playTimer);
  S.playTimer = 0;
  $('#play').textContent = '▶ Play';
}

// ---------------------------------------------------------------- detail pane

function detailChildren(orderId) {
  const ids = S.childIndex.get(orderId);
  const out = [];
  if (ids) for (const id of ids) { const r = S.stores.children.get(id); if (r) out.push(r); }
  return out;
}

function toggleDetail(orderId) {
  if (S.detail && S.detail.orderId === orderId) closeDetail(); else openDetail(orderId);
}

function openDetail(orderId) {
  if (S.detail && S.detail.orderId === orderId) return;
  if (S.detail) S.detail.api.destroy();
  const el = $('#detail-children');
  el.innerHTML = '';
  const d = S.detail = {orderId, childId: null, chart: undefined, api: null, eventsTimer: 0};
  d.api = agGrid.createGrid(el, {
    ...GRID_BASE,
    defaultColDef: {...GRID_BASE.defaultColDef, filter: false, floatingFilter: false},
    columnDefs: [col('id', {headerName: 'child', width: 120}), col('venue', {width: 75}),
      col('destination', {width: 85}), sideCol(), qtyCol('qty', {width: 80}), pxCol('limit_px', {width: 80}),
      enumCol('status', 'st', {width: 110}), qtyCol('filled', {width: 80}), qtyCol('leaves', {width: 80}),
      pxCol('avg_px', {width: 80}), col('last_event', {width: 100}), timeCol('sent_ts', {sort: 'asc'}),
      timeCol('updated_ts'), seqCol()].map(c => ({...c, filter: false})),
    rowData: detailChildren(orderId),
    rowSelection: {mode: 'singleRow', checkboxes: false, enableClickSelection: true},
    onRowClicked: e => e.data && selectChild(e.data.id),
  });
  $('#detail').hidden = false;
  $('#detail-events').innerHTML = '<p class="muted">Click a child for its venue events.</p>';
  $('#detail-events-title').textContent = 'Venue events';
  renderDetailHeader();
  drawChart();
  send({t: 'chart', order_id: orderId});
  refreshExpanders();
}

function closeDetail() {
  if (!S.detail) return;
  clearTimeout(S.detail.eventsTimer);
  S.detail.api.destroy();
  S.detail = null;
  $('#detail').hidden = true;
  send({t: 'chart', order_id: null});
  refreshExpanders();
}

function refreshExpanders() {
  for (const p of S.panels) if (p.view === 'parents') p.api.refreshCells({columns: ['_expand'], force: true});
}

const PARENT_FIELDS = [
  ['client'], ['cl_ord_id', 'ClOrdID'], ['symbol'], ['side'], ['qty', null, fmtQty], ['ord_type', 'type'],
  ['limit_px', 'limit', fmtPx], ['algo'], ['status'], ['filled', null, fmtQty], ['leaves', null, fmtQty],
  ['avg_px', 'avg px', fmtPx], ['ivwap', 'iVWAP', fmtPx], ['slippage_bps', 'slippage bps', fmtBps],
  ['children', null, fmtQty], ['arrived_ts', 'arrived', fmtTime], ['updated_ts', 'updated', fmtTime], ['seq'],
];

function renderDetailHeader() {
  const d = S.detail;
  if (!d) return;
  const o = S.stores.parents.get(d.orderId);
  if (!o) {
    $('#detail-title').textContent = `Order ${d.orderId}`;
    $('#detail-header').innerHTML = '<dd class="muted">Not in the picture at this position.</dd>';
    return;
  }
  $('#detail-title').textContent = `Order ${o.id} · ${o.side} ${fmtQty(o.qty)} ${o.symbol}`;
  $('#detail-header').innerHTML = PARENT_FIELDS.map(([f, label, fmt]) => {
    const v = fmt ? fmt(o[f]) : o[f];
    const cls = f === 'status' ? ` class="pill st-${cssName(v)}"` : '';
    return `<div><dt>${esc(label || f)}</dt><dd${cls}>${esc(v)}</dd></div>`;
  }).join('');
}

function selectChild(childId) {
  const d = S.detail;
  if (!d) return;
  d.childId = childId;
  $('#detail-events-title').textContent = `Venue events of ${childId}`;
  $('#detail-events').innerHTML = '<p class="muted">Loading…</p>';
  askEvents();
}
function askEvents() {
  if (S.detail && S.detail.childId) send({t: 'events', child_id: S.detail.childId});
}
// The events answer is a snapshot: refresh it when the child changes, at most once a second.
function askEventsSoon() {
  const d = S.detail;
  if (!d || d.eventsTimer) return;
  d.eventsTimer = setTimeout(() => { d.eventsTimer = 0; if (S.detail === d) askEvents(); }, 1000);
}

function onEvents(m) {
  if (!S.detail || S.detail.childId !== m.child_id) return;
  const evs = m.events || [];
  $('#detail-events').innerHTML = evs.length ? `<table class="events"><thead><tr>
      <th class="r">seq</th><th class="r">time</th><th>kind</th><th>text</th><th class="r">qty</th><th class="r">px</th></tr></thead><tbody>${
      evs.map(e => `<tr><td class="num">${esc(e.seq)}</td><td class="num">${fmtTime(e.ts)}</td><td>${esc(e.kind)}</td><td>${esc(e.text)}</td><td class="num">${fmtQty(e.qty)}</td><td class="num">${fmtPx(e.px)}</td></tr>`).join('')
    }</tbody></table>` : '<p class="muted">No venue events.</p>';
}

function onChart(m) {
  if (!S.detail || S.detail.orderId !== m.order_id) return;
  S.detail.chart = m.chart;
  drawChart();
}

// ---------------------------------------------------------------- chart (hand-drawn SVG)

const C_MKT = '#aab4c0', C_ORD = '#2563eb';   // the bars (the lines are styled in app.css)

function niceStep(span, target) {
  const raw = span / target, mag = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

function drawChart() {
  const box = $('#detail-chart');
  const c = S.detail && S.detail.chart;
  if (!c) {
    box.innerHTML = `<p class="muted">${S.detail && S.detail.chart === null ? 'No chart for this order here.' : 'Waiting for the chart…'}</p>`;
    return;
  }
  const W = Math.max(360, box.clientWidth || 660), H = 320;
  const L = 54, R = 58, T = 26, B = 22;
  const bn = c.bucket_ns || 60e9;
  const buckets = (c.buckets || []).filter(b => b && b.ts != null);
  const fills = (c.fills || []).filter(f => f && f.ts != null).sort((a, b) => a.ts - b.ts);
  // The x span: the order's life (arrival to done, or to the newest data).
  let t0 = c.arrived_ts || (buckets[0] && buckets[0].ts) || (fills[0] && fills[0].ts) || 0;
  if (buckets.length) t0 = Math.min(t0, buckets[0].ts);
  const t1 = Math.max(t0 + bn, c.done_ts || c.now_ts || 0, buckets.length ? buckets[buckets.length - 1].ts + bn : 0,
    fills.length ? fills[fills.length - 1].ts : 0);
  const x = t => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const pxTop = T, pxH = (H - T - B) * 0.42, vTop = pxTop + pxH + 14, vH = H - B - vTop;
  const o = [];

  // The order's executed quantity per bucket, on the market's bucket grid.
  const b0 = buckets.length ? buckets[0].ts : t0;
  const ordQ = new Map();
  for (const f of fills) { const k = Math.floor((f.ts - b0) / bn); ordQ.set(k, (ordQ.get(k) || 0) + (+f.qty || 0)); }
  const vmax = Math.max(1, ...buckets.map(b => +b.volume || 0), ...ordQ.values());
  const yv = v => vTop + vH - (v / vmax) * vH;
  const yp = pct => vTop + vH - (pct / 100) * vH;

  // Volume pane: grid and axes (shares left, cumulative % right).
  for (const pct of [0, 50, 100]) {
    o.push(`<line class="grid" x1="${L}" x2="${W - R}" y1="${yp(pct)}" y2="${yp(pct)}"/>`,
      `<text class="ax" x="${W - R + 4}" y="${yp(pct) + 3}">${pct}%</text>`,
      `<text class="ax" x="${L - 4}" y="${yv((pct / 100) * vmax) + 3}" text-anchor="end">${fmtCompact((pct / 100) * vmax)}</text>`);
  }
  for (const b of buckets) {
    const x0 = x(b.ts), w = Math.max(1, x(b.ts + bn) - x0);
    o.push(`<rect fill="${C_MKT}" x="${(x0 + w * 0.06).toFixed(1)}" width="${(w * 0.44).toFixed(1)}" y="${yv(+b.volume || 0).toFixed(1)}" height="${(vTop + vH - yv(+b.volume || 0)).toFixed(1)}"><title>${fmtHM(b.ts)} market ${fmtQty(b.volume)}</title></rect>`);
  }
  for (const [k, q] of ordQ) {
    const ts = b0 + k * bn, x0 = x(ts), w = Math.max(1, x(ts + bn) - x0);
    o.push(`<rect fill="${C_ORD}" x="${(x0 + w * 0.5).toFixed(1)}" width="${(w * 0.44).toFixed(1)}" y="${yv(q).toFixed(1)}" height="${(vTop + vH - yv(q)).toFixed(1)}"><title>${fmtHM(ts)} order ${fmtQty(q)}</title></rect>`);
  }
  // Cumulative %: market volume over the order's life, and the order's fills / qty.
  const totalVol = buckets.reduce((s, b) => s + (+b.volume || 0), 0);
  if (totalVol > 0) {
    let cum = 0;
    const pts = [[x(buckets[0].ts), yp(0)]];
    for (const b of buckets) { cum += +b.volume || 0; pts.push([x(b.ts + bn), yp((100 * cum) / totalVol)]); }
    o.push(`<polyline class="cum-mkt" points="${pts.map(p => p.map(n => n.toFixed(1)).join(',')).join(' ')}"/>`);
  }
  if (c.qty > 0) {
    let cum = 0;
    const pts = [[x(c.arrived_ts || t0), yp(0)]];
    for (const f of fills) {
      pts.push([x(f.ts), yp((100 * cum) / c.qty)]);
      cum += +f.qty || 0;
      pts.push([x(f.ts), yp((100 * cum) / c.qty)]);
    }
    pts.push([x(Math.max(c.done_ts || t1, fills.length ? fills[fills.length - 1].ts : 0)), yp((100 * cum) / c.qty)]);
    o.push(`<polyline class="cum-ord" points="${pts.map(p => p.map(n => n.toFixed(1)).join(',')).join(' ')}"/>`);
  }

  // Price pane: bucket VWAP and last on the price axis (right), fills as dots.
  const prices = [];
  for (const b of buckets) { if (b.vwap > 0) prices.push(+b.vwap); if (b.last > 0) prices.push(+b.last); }
  for (const f of fills) if (f.px > 0) prices.push(+f.px);
  if (prices.length) {
    let pmin = Math.min(...prices), pmax = Math.max(...prices);
    const padp = Math.max((pmax - pmin) * 0.1, pmax * 0.0005, 0.01);
    pmin -= padp; pmax += padp;
    const ypx = p => pxTop + pxH - ((p - pmin) / (pmax - pmin)) * pxH;
    const st = niceStep(pmax - pmin, 4);
    for (let p = Math.ceil(pmin / st) * st; p <= pmax; p += st) {
      o.push(`<line class="grid" x1="${L}" x2="${W - R}" y1="${ypx(p).toFixed(1)}" y2="${ypx(p).toFixed(1)}"/>`,
        `<text class="ax" x="${W - R + 4}" y="${(ypx(p) + 3).toFixed(1)}">${PX.format(p)}</text>`);
    }
    const line = (key, off, cls) => {
      const pts = buckets.filter(b => b[key] > 0).map(b => `${x(b.ts + off).toFixed(1)},${ypx(b[key]).toFixed(1)}`);
      if (pts.length) o.push(`<polyline class="${cls}" points="${pts.join(' ')}"/>`);
    };
    line('vwap', bn / 2, 'px-vwap');
    line('last', bn, 'px-last');
    const qmax = Math.max(1, ...fills.map(f => +f.qty || 0));
    for (const f of fills) {
      if (!(f.px > 0)) continue;
      o.push(`<circle class="fill-dot" cx="${x(f.ts).toFixed(1)}" cy="${ypx(f.px).toFixed(1)}" r="${(2.5 + 3.5 * Math.sqrt((+f.qty || 0) / qmax)).toFixed(1)}"><title>${fmtTime(f.ts)} ${fmtQty(f.qty)} @ ${fmtPx(f.px)}</title></circle>`);
    }
  } else {
    o.push(`<text class="ax" x="${L + 8}" y="${pxTop + pxH / 2}">no prices yet</text>`);
  }
  o.push(`<line class="axis" x1="${L}" x2="${W - R}" y1="${pxTop + pxH}" y2="${pxTop + pxH}"/>`,
    `<line class="axis" x1="${L}" x2="${W - R}" y1="${vTop + vH}" y2="${vTop + vH}"/>`);

  // Time axis in New York time, on minute boundaries.
  const mins = [1, 2, 5, 10, 15, 30, 60, 120, 240];
  const spanMin = (t1 - t0) / 60e9;
  const stepNs = (mins.find(m => spanMin / m <= Math.max(2, Math.floor((W - L - R) / 70))) || 480) * 60e9;
  for (let t = Math.ceil(t0 / stepNs) * stepNs; t <= t1; t += stepNs) {
    const xt = x(t).toFixed(1);
    o.push(`<line class="tick" x1="${xt}" x2="${xt}" y1="${vTop + vH}" y2="${vTop + vH + 4}"/>`,
      `<text class="ax" x="${xt}" y="${H - 6}" text-anchor="middle">${fmtHM(t)}</text>`);
  }
  // The order's arrival and end.
  for (const [t, label] of [[c.arrived_ts, 'arrived'], [c.done_ts, 'done']]) {
    if (t) o.push(`<line class="mark" x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${pxTop}" y2="${vTop + vH}"><title>${label} ${fmtTime(t)}</title></line>`);
  }
  const legend = [['sw', C_MKT, 'market volume'], ['sw', C_ORD, 'order qty'], ['ln cum-ord', '', 'order % filled'],
    ['ln cum-mkt', '', 'market % of volume'], ['ln px-vwap', '', 'VWAP'], ['ln px-last', '', 'last'], ['dot', '', 'fills']];
  let lx = L;
  for (const [kind, color, text] of legend) {
    if (kind === 'sw') o.push(`<rect x="${lx}" y="8" width="10" height="10" fill="${color}"/>`);
    else if (kind === 'dot') o.push(`<circle class="fill-dot" cx="${lx + 5}" cy="13" r="4"/>`);
    else o.push(`<line class="${kind.slice(3)}" x1="${lx}" x2="${lx + 14}" y1="13" y2="13"/>`);
    o.push(`<text class="lg" x="${lx + 17}" y="17">${text}</text>`);
    lx += 26 + text.length * 6;
  }
  box.innerHTML = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="order chart">${o.join('')}</svg>`;
}

// ---------------------------------------------------------------- actions

function setupActions() {
  $('#actions-slot').appendChild($('#tpl-actions').content.cloneNode(true));
  const scope = $('#kill-scope'), value = $('#kill-value');
  scope.addEventListener('change', () => { value.disabled = scope.value === 'all'; if (value.disabled) value.value = ''; });
  $('#kill-engage').addEventListener('click', () => {
    const k = killFields();
    if (!k) return;
    confirmDialog(`Engage the kill switch for ${k.scope === 'all' ? 'everything' : `${k.scope} ${k.value}`}? Every open order in scope is cancelled and no new child goes out.`,
      k.reason, reason => sendAction('engage_kill', {...k, reason}, `engage kill ${k.scope} ${k.value}`.trim()));
  });
  $('#kill-release').addEventListener('click', () => {
    const k = killFields();
    if (k) sendAction('release_kill', k, `release kill ${k.scope} ${k.value}`.trim());
  });
  $('#risk-set').addEventListener('click', () => {
    const f = {scope: $('#risk-scope').value.trim() || '*', limit: $('#risk-limit').value,
      value: $('#risk-value').value.trim(), reason: $('#risk-reason').value.trim()};
    if (!f.value) { note('risk limit: give a value', 'error'); return; }
    sendAction('set_risk_limit', f, `risk ${f.scope} ${f.limit}=${f.value}`);
  });
}

function killFields() {
  const k = {scope: $('#kill-scope').value, value: $('#kill-value').value.trim(), reason: $('#kill-reason').value.trim()};
  if (k.scope !== 'all' && !k.value) { note(`kill switch: name the ${k.scope}`, 'error'); return null; }
  if (k.scope === 'all') k.value = '';
  return k;
}

function confirmCancel(orderId) {
  const o = S.stores.parents.get(orderId);
  const what = o ? `${o.side} ${fmtQty(o.leaves)} of ${fmtQty(o.qty)} ${o.symbol} for ${o.client}` : '';
  confirmDialog(`Cancel order ${orderId}${what ? ` (${what})` : ''}?`, '',
    reason => sendAction('cancel_parent', {order_id: orderId, reason}, `cancel ${orderId}`));
}

function confirmDialog(text, reason, onOk) {
  $('#confirm-text').textContent = text;
  $('#confirm-reason').value = reason || '';
  S.confirmCb = onOk;
  $('#confirm-dialog').showModal();
  $('#confirm-reason').focus();
}

function bindConfirm() {
  const dlg = $('#confirm-dialog');
  $('#confirm-ok').addEventListener('click', () => {
    const cb = S.confirmCb, reason = $('#confirm-reason').value.trim();
    S.confirmCb = null;
    dlg.close();
    if (cb) cb(reason);
  });
  $('#confirm-cancel').addEventListener('click', () => { S.confirmCb = null; dlg.close(); });
  $('#confirm-reason').addEventListener('keydown', e => { if (e.key === 'Enter') { e.preventDefault(); $('#confirm-ok').click(); } });
  dlg.addEventListener('close', () => { S.confirmCb = null; });
}

function sendAction(action, fields, desc) {
  const id = `a${++S.actionN}`;
  if (!send({t: 'action', id, action, ...fields})) { logAction(false, `${desc}: not connected`); return; }
  S.pendingActions.set(id, desc);
}

function onActionResult(m) {
  const desc = S.pendingActions.get(m.id);
  S.pendingActions.delete(m.id);
  logAction(!!m.ok, `${desc ? `${desc}: ` : ''}${m.text || (m.ok ? 'done' : 'refused')}${m.seq ? ` (seq ${m.seq})` : ''}`);
}

function logAction(ok, text) {
  const log = $('#action-log');
  if (!log) { note(text, ok ? 'info' : 'error'); return; }
  const li = document.createElement('li');
  li.className = ok ? 'ok' : 'refused';
  li.textContent = `${fmtTime(Date.now() * 1e6)} ${ok ? 'ok' : 'refused'} · ${text}`;
  log.prepend(li);
  while (log.children.length > 50) log.lastChild.remove();
}

// Transient messages (errors from the server, layout feedback).
function note(text, kind = 'info') {
  const div = document.createElement('div');
  div.className = `msg msg-${kind}`;
  div.textContent = text;
  $('#messages').appendChild(div);
  setTimeout(() => div.remove(), kind === 'error' ? 8000 : 4000);
}

// ---------------------------------------------------------------- login

function showLogin(message) {
  $('#app').hidden = true;
  $('#detail').hidden = true;
  $('#login').hidden = false;
  $('#login-error').textContent = message || '';
  $('#login-user').focus();
}

function startApp() {
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#user-badge').textContent = `${S.me.user} (${S.me.role})`;
  connect();
}

function bindLogin() {
  $('#login-form').addEventListener('submit', async e => {
    e.preventDefault();
    const btn = $('#login-submit');
    btn.disabled = true;
    $('#login-error').textContent = '';
    try {
      const r = await fetch('/api/login', {method: 'POST', credentials: 'same-origin',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({user: $('#login-user').value.trim(), token: $('#login-token').value})});
      const body = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(body.error || body.detail || body.text || `sign-in refused (${r.status})`);
      S.me = body;
      $('#login-token').value = '';
      // A page that was already running (session expired) has its panels: just reconnect.
      startApp();
    } catch (err) {
      $('#login-error').textContent = err.message;
    } finally {
      btn.disabled = false;
    }
  });
  $('#logout').addEventListener('click', async () => {
    const ws = S.ws;
    S.ws = null;   // so its close does not reconnect
    if (ws) ws.close();
    try {
      await fetch('/api/logout', {method: 'POST', credentials: 'same-origin',
        headers: {'X-Tape-CSRF': (S.me && S.me.csrf) || ''}});
    } catch { /* the reload shows the login either way */ }
    location.reload();
  });
}

// ---------------------------------------------------------------- boot

async function boot() {
  bindLogin();
  bindLayoutControls();
  bindSlider();
  bindConfirm();
  $('#detail-close').addEventListener('click', closeDetail);
  document.addEventListener('keydown', e => {
    if (e.key === 'Escape' && S.detail && !$('#confirm-dialog').open) closeDetail();
  });
  // Close an open column menu when clicking anywhere else.
  document.addEventListener('click', e => {
    for (const d of document.querySelectorAll('.col-chooser[open]')) if (!d.contains(e.target)) d.open = false;
  });
  let rt = 0;
  window.addEventListener('resize', () => { clearTimeout(rt); rt = setTimeout(() => S.detail && drawChart(), 150); });
  try {
    const r = await fetch('/api/me', {credentials: 'same-origin'});
    if (r.status === 401) { showLogin(); return; }
    if (!r.ok) throw new Error(`server answered ${r.status}`);
    S.me = await r.json();
    startApp();
  } catch (err) {
    showLogin(`Cannot reach the blotter: ${err.message}`);
  }
}

boot();
})();
