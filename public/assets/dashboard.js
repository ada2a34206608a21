// The merchant activity dashboard: plain JavaScript, no framework, no build step. Chart.js is the
// only dependency, served by the service itself at /assets/chart.umd.min.js.
'use strict';

(function () {
  const POLL_MS = 2000; // /health is polled for its dataVersion; a change reloads the figures
  const LEDGER_LIMIT = 50;
  const REJECTS_PAGE = 25;
  const STAGES = [
    ['documents_submitted', 'Documents submitted'],
    ['verifications_completed', 'Verifications completed'],
    ['tier_upgrades', 'Tier upgrades'],
  ];
  const MONTH = /^[0-9]{4}-(0[1-9]|1[0-2])$/;
  const COLOR = {
    ink: '#111827',
    muted: '#4b5563',
    grid: '#e5e7eb',
    line: '#1d4ed8',
    lineFill: 'rgba(29, 78, 216, 0.08)',
    adoption: '#3563d9',
    failure: '#c2410c',
    funnel: ['#134e4a', '#115e59', '#0f766e'], // white text on each: over 5.5:1
  };

  const $ = (id) => document.getElementById(id);
  const body = document.body;

  // ---------------------------------------------------------------------------------------------
  // Exact numbers. The API writes money with two decimals and rates with one as JSON numbers
  // (98765432.10, 5.0); JSON.parse would turn them into doubles and lose the zeros. Every number
  // token is quoted before parsing, so each number stays the exact text the API wrote. The regex
  // consumes whole strings first, so digits inside strings (keys like "2024-01") are untouched.
  // ---------------------------------------------------------------------------------------------
  const TOKENS = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
  function parseExact(text) {
    return JSON.parse(text.replace(TOKENS, (t) => (t[0] === '"' ? t : '"' + t + '"')));
  }

  /** Thousands separators only: the digits stay exactly as given. */
  function grouped(raw) {
    const s = String(raw);
    const dot = s.indexOf('.');
    const whole = dot < 0 ? s : s.slice(0, dot);
    return whole.replace(/\B(?=(\d{3})+$)/g, ',') + (dot < 0 ? '' : s.slice(dot));
  }

  async function getExact(path) {
    const response = await fetch(path, {
      headers: { accept: 'application/json' },
      cache: 'no-cache', // revalidate with the ETag: a 304 costs the server nothing
    });
    const text = await response.text();
    let json = null;
    try {
      json = parseExact(text);
    } catch {
      json = null;
    }
    return { status: response.status, json };
  }

  /** A small element builder: h('td', { class: 'num', text: '12' }, [children]). */
  function h(tag, props, children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else if (key === 'onclick') el.addEventListener('click', value);
      else el.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children || []) if (child !== null && child !== undefined) el.append(child);
    return el;
  }

  function pad(n) {
    return String(n).padStart(2, '0');
  }

  function localTime(iso, withDate) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '—';
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    return withDate
      ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`
      : time;
  }

  // ---------------------------------------------------------------------------------------------
  // Charts
  // ---------------------------------------------------------------------------------------------

  /** Draws each value's exact text on the chart: above line points, at bar ends, in funnel bars. */
  const valueLabels = {
    id: 'valueLabels',
    afterDatasetsDraw(chart, _args, options) {
      const dataset = chart.data.datasets[0];
      const texts = dataset && dataset.labelsText;
      if (!texts) return;
      const ctx = chart.ctx;
      ctx.save();
      ctx.font = `600 12px ${Chart.defaults.font.family}`;
      ctx.textBaseline = 'middle';
      chart.getDatasetMeta(0).data.forEach((el, i) => {
        const text = texts[i];
        if (!text) return;
        const width = ctx.measureText(text).width;
        if (options.position === 'above') {
          ctx.textAlign = 'center';
          ctx.fillStyle = COLOR.ink;
          ctx.fillText(text, el.x, Math.max(el.y - 14, chart.chartArea.top - 8));
        } else if (options.position === 'centre') {
          const caption = (dataset.captions || [])[i] || '';
          ctx.textAlign = 'center';
          ctx.fillStyle = COLOR.ink;
          const middle = (chart.chartArea.left + chart.chartArea.right) / 2;
          ctx.fillText(caption, middle, el.y - el.height / 2 - 10);
          const inside = Math.abs(el.x - el.base) > width + 16;
          ctx.textAlign = inside ? 'center' : 'left';
          ctx.fillStyle = inside ? '#ffffff' : COLOR.ink;
          ctx.fillText(text, inside ? (el.x + el.base) / 2 : Math.max(el.x, el.base) + 6, el.y);
        } else {
          ctx.textAlign = 'left';
          ctx.fillStyle = COLOR.ink;
          ctx.fillText(text, el.x + 6, el.y);
        }
      });
      ctx.restore();
    },
  };

  const charts = {};

  function setupCharts() {
    const reduced = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
    Chart.defaults.font.size = 12;
    Chart.defaults.color = COLOR.muted;
    Chart.defaults.borderColor = COLOR.grid;
    Chart.defaults.maintainAspectRatio = false;
    Chart.defaults.animation = reduced ? false : { duration: 350 };
    Chart.defaults.plugins.legend.display = false;
    Chart.defaults.plugins.tooltip.callbacks.label = (c) => c.dataset.tooltipText[c.dataIndex];

    const category = { grid: { display: false }, ticks: { color: COLOR.ink } };
    const horizontal = (color, tick) => ({
      type: 'bar',
      data: { labels: [], datasets: [{ data: [], backgroundColor: color, borderRadius: 4 }] },
      options: {
        indexAxis: 'y',
        maxBarThickness: 26,
        layout: { padding: { right: 8 } },
        scales: {
          x: { beginAtZero: true, grace: '14%', ticks: { precision: 0, callback: tick } },
          y: category,
        },
        plugins: { valueLabels: { position: 'end' } },
      },
      plugins: [valueLabels],
    });

    charts.mam = new Chart($('mam-chart'), {
      type: 'line',
      data: {
        labels: [],
        datasets: [
          {
            data: [],
            borderColor: COLOR.line,
            backgroundColor: COLOR.lineFill,
            pointBackgroundColor: COLOR.line,
            pointRadius: 4,
            pointHoverRadius: 6,
            borderWidth: 2.5,
            tension: 0.25,
            fill: true,
          },
        ],
      },
      options: {
        layout: { padding: { top: 22, right: 16, left: 4 } },
        scales: {
          y: { beginAtZero: true, grace: '8%', ticks: { precision: 0 } },
          x: { ...category, offset: true },
        },
        plugins: { valueLabels: { position: 'above' } },
      },
      plugins: [valueLabels],
    });
    charts.adoption = new Chart($('adoption-chart'), horizontal(COLOR.adoption));
    charts.failure = new Chart(
      $('failure-chart'),
      horizontal(COLOR.failure, (v) => `${v}%`),
    );
    charts.kyc = new Chart($('kyc-chart'), {
      type: 'bar',
      data: {
        labels: [],
        datasets: [{ data: [], backgroundColor: COLOR.funnel, borderRadius: 4 }],
      },
      options: {
        indexAxis: 'y',
        maxBarThickness: 60,
        barPercentage: 0.7,
        categoryPercentage: 1,
        layout: { padding: { top: 18 } },
        scales: { x: { display: false }, y: { display: false } },
        plugins: { valueLabels: { position: 'centre' } },
      },
      plugins: [valueLabels],
    });
  }

  function setChart(chart, labels, data, labelsText, tooltipText, summary) {
    if (!chart) return; // Chart.js did not load: the tables still show every figure
    chart.data.labels = labels;
    const dataset = chart.data.datasets[0];
    dataset.data = data;
    dataset.labelsText = labelsText;
    dataset.tooltipText = tooltipText;
    chart.update();
    chart.canvas.setAttribute('aria-label', summary);
  }

  // ---------------------------------------------------------------------------------------------
  // Rendering the figures
  // ---------------------------------------------------------------------------------------------

  function valueTable(tbodyId, testid, rows, suffix) {
    const tbody = $(tbodyId);
    if (rows.length === 0) {
      tbody.replaceChildren(
        h('tr', null, [h('td', { colspan: 2, class: 'empty', text: 'No data in these months' })]),
      );
      return;
    }
    tbody.replaceChildren(
      ...rows.map(([key, label, raw]) =>
        h('tr', null, [
          h('th', { scope: 'row', text: label }),
          h('td', {
            class: 'num',
            'data-testid': testid,
            'data-key': key,
            'data-value': raw,
            text: grouped(raw) + (suffix || ''),
          }),
        ]),
      ),
    );
  }

  function describe(kind, rows, suffix) {
    if (rows.length === 0) return `${kind}: no data in these months.`;
    return `${kind}: ${rows.map(([, label, raw]) => `${label} ${grouped(raw)}${suffix || ''}`).join('; ')}.`;
  }

  function renderMonthlyActive(mam) {
    const rows = Object.entries(mam).map(([month, raw]) => [month, month, raw]);
    setChart(
      charts.mam,
      rows.map((r) => r[0]),
      rows.map((r) => Number(r[2])),
      rows.map((r) => grouped(r[2])),
      rows.map((r) => `${grouped(r[2])} active merchants`),
      describe('Line chart of monthly active merchants', rows),
    );
    valueTable('mam-table', 'mam-value', rows);
    const last = rows[rows.length - 1];
    $('kpi-active').textContent = last ? grouped(last[2]) : '—';
    $('kpi-active-month').textContent = last
      ? `in ${last[0]}, the latest month`
      : 'no successful events';
  }

  function renderAdoption(adoption) {
    const rows = Object.entries(adoption).map(([product, raw]) => [product, product, raw]);
    setChart(
      charts.adoption,
      rows.map((r) => r[1]),
      rows.map((r) => Number(r[2])),
      rows.map((r) => grouped(r[2])),
      rows.map((r) => `${grouped(r[2])} merchants`),
      describe('Bar chart of product adoption, merchants per product', rows),
    );
    valueTable('adoption-table', 'adoption-value', rows);
  }

  function renderFailures(failures) {
    const rows = failures.map((f) => [f.product, f.product, f.failure_rate]);
    setChart(
      charts.failure,
      rows.map((r) => r[1]),
      rows.map((r) => Number(r[2])),
      rows.map((r) => `${r[2]}%`),
      rows.map((r) => `${r[2]}% failed`),
      describe('Bar chart of failure rates per product', rows, '%'),
    );
    valueTable('failure-table', 'failure-value', rows, '%');
    const worst = rows[0];
    $('kpi-fail').textContent = worst ? `${worst[2]}%` : '—';
    $('kpi-fail-sub').textContent = worst ? worst[0] : 'no successful or failed events';
  }

  function renderKyc(kyc) {
    const rows = STAGES.map(([key, label]) => [key, label, kyc[key]]);
    const counts = rows.map((r) => Number(r[2]));
    const widest = Math.max(1, ...counts);
    // A later stage also as a share of the first: a rounded ratio, not a figure of the API.
    const share = (i) =>
      i > 0 && counts[0] > 0 ? `${Math.round((counts[i] * 100) / counts[0])}% of submitted` : '';
    if (charts.kyc) {
      charts.kyc.options.scales.x.min = -widest * 0.52;
      charts.kyc.options.scales.x.max = widest * 0.52;
      // Stage names are drawn above the bars (the axis is hidden so the funnel sits centred).
      charts.kyc.data.datasets[0].captions = rows.map(
        (r, i) => r[1] + (share(i) && ` · ${share(i)}`),
      );
    }
    setChart(
      charts.kyc,
      rows.map((r) => r[1]),
      counts.map((n) => [-n / 2, n / 2]), // floating bars centred on 0: a funnel
      rows.map((r) => grouped(r[2])),
      rows.map((r, i) => `${grouped(r[2])} merchants` + (share(i) && ` (${share(i)})`)),
      describe('Funnel of KYC stages, merchants per stage', rows),
    );
    valueTable('kyc-table', 'kyc-value', rows);
    $('kpi-kyc').textContent = grouped(rows[0][2]);
    $('kpi-kyc-sub').textContent = `${grouped(rows[2][2])} reached a tier upgrade`;
  }

  function renderTop(top, leaders) {
    const id = $('kpi-top-id');
    const volume = $('kpi-top-volume');
    id.textContent = top ? top.merchant_id : '—';
    volume.textContent = top ? grouped(top.total_volume) : 'no successful events';
    volume.dataset.value = top ? top.total_volume : '';
    const tbody = $('leaders-table');
    if (leaders.length === 0) {
      tbody.replaceChildren(
        h('tr', null, [h('td', { colspan: 3, class: 'empty', text: 'No successful events' })]),
      );
      return;
    }
    // The share bar is cosmetic (a float is fine there); the figure beside it is the exact text.
    const max = Number(leaders[0].total_volume) || 1;
    tbody.replaceChildren(
      ...leaders.map((row) => {
        const share = h('span', { class: 'share', 'aria-hidden': 'true' });
        share.style.width = `${Math.max(2, (Number(row.total_volume) / max) * 100)}%`;
        return h('tr', { 'data-testid': 'top-merchants-row' }, [
          h('td', { class: 'num', 'data-field': 'rank', 'data-value': row.rank, text: row.rank }),
          h('td', {
            'data-field': 'merchant_id',
            'data-value': row.merchant_id,
            text: row.merchant_id,
          }),
          h(
            'td',
            { class: 'num volume', 'data-field': 'total_volume', 'data-value': row.total_volume },
            [grouped(row.total_volume), share],
          ),
        ]);
      }),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Month range
  // ---------------------------------------------------------------------------------------------

  const range = { from: '', to: '' };
  {
    const params = new URLSearchParams(window.location.search);
    for (const key of ['from', 'to']) {
      const value = params.get(key) || '';
      range[key] = MONTH.test(value) ? value : '';
    }
  }

  function rangeQuery() {
    const params = new URLSearchParams();
    if (range.from) params.set('from', range.from);
    if (range.to) params.set('to', range.to);
    return params.toString();
  }

  function rangeText() {
    if (!range.from && !range.to) return 'All months';
    if (range.from === range.to) return `Month ${range.from}`;
    return `Months ${range.from || 'earliest'} to ${range.to || 'latest'}`;
  }

  function fillMonths(select, months, first, chosen) {
    const all = months.slice();
    if (chosen && !all.includes(chosen)) all.push(chosen);
    all.sort();
    const signature = all.join(',');
    if (select.dataset.months !== signature) {
      select.replaceChildren(
        h('option', { value: '', text: first }),
        ...all.map((m) => h('option', { value: m, text: m })),
      );
      select.dataset.months = signature;
    }
    select.value = chosen;
  }

  function renderMonths(allMonthly) {
    const months = Object.keys(allMonthly);
    fillMonths($('from'), months, 'Earliest', range.from);
    fillMonths($('to'), months, 'Latest', range.to);
  }

  function showNotice(text) {
    const notice = $('notice');
    notice.textContent = text || '';
    notice.hidden = !text;
  }

  // ---------------------------------------------------------------------------------------------
  // Loading
  // ---------------------------------------------------------------------------------------------

  let analyticsToken = 0;

  /** Loads and renders the figures for the current range; false while the start-up import runs. */
  async function loadAnalytics() {
    const token = ++analyticsToken;
    const query = rangeQuery();
    const q = query ? `?${query}` : '';
    const paths = [
      `/analytics/monthly-active-merchants${q}`,
      `/analytics/product-adoption${q}`,
      `/analytics/kyc-funnel${q}`,
      `/analytics/failure-rates${q}`,
      `/analytics/top-merchant${q}`,
      `/analytics/top-merchants?limit=10${query ? `&${query}` : ''}`,
    ];
    if (query) paths.push('/analytics/monthly-active-merchants'); // every month, for the pickers
    const results = await Promise.all(paths.map(getExact));
    if (token !== analyticsToken) return true; // a newer range was chosen meanwhile
    if (results.some((r) => r.status === 503)) return false;
    const bad = results.find((r) => r.status !== 200 && !(r.status === 404 && r === results[4]));
    if (bad) {
      const message = bad.json && bad.json.error ? bad.json.error.message : `HTTP ${bad.status}`;
      showNotice(`Could not load the figures: ${message}`);
      return true;
    }
    showNotice('');
    const [mam, adoption, kyc, failures, top, leaders, allMonthly] = results.map((r) => r.json);
    renderMonthlyActive(mam);
    renderAdoption(adoption);
    renderKyc(kyc);
    renderFailures(failures);
    renderTop(results[4].status === 200 ? top : null, leaders);
    renderMonths(allMonthly || mam);
    $('range-label').textContent = rangeText();
    body.dataset.range = query;
    return true;
  }

  function duration(run) {
    if (!run.finishedAt) return '—';
    const ms = new Date(run.finishedAt).getTime() - new Date(run.startedAt).getTime();
    if (ms < 1000) return `${Math.max(0, ms)} ms`;
    return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`;
  }

  async function loadLedger() {
    const result = await getExact(`/imports?limit=${LEDGER_LIMIT}`);
    if (result.status !== 200 || !result.json) return false;
    const focused = document.activeElement && document.activeElement.dataset.runId;
    const runs = result.json.items;
    const tbody = $('ledger-table');
    if (runs.length === 0) {
      tbody.replaceChildren(
        h('tr', null, [h('td', { colspan: 9, class: 'empty', text: 'No import runs yet' })]),
      );
      return true;
    }
    const count = (run, field) =>
      h('td', {
        class: 'num',
        'data-field': field,
        'data-value': run[field],
        text: grouped(run[field]),
      });
    tbody.replaceChildren(
      ...runs.map((run) => {
        const open = drill.run === run.id;
        const rejected =
          run.rowsRejected === '0'
            ? grouped(run.rowsRejected)
            : h('button', {
                type: 'button',
                class: 'link',
                'data-testid': 'ledger-rejects',
                'data-run-id': run.id,
                'aria-expanded': String(open),
                'aria-controls': 'rejects',
                'aria-label': `${grouped(run.rowsRejected)} rejected rows of run ${run.id}: show why`,
                text: grouped(run.rowsRejected),
                onclick: () => openRun(run),
              });
        return h(
          'tr',
          { 'data-testid': 'ledger-row', 'data-run-id': run.id, class: open ? 'selected' : null },
          [
            h('td', { class: 'num', 'data-field': 'id', 'data-value': run.id, text: run.id }),
            h('td', { 'data-field': 'fileName', 'data-value': run.fileName }, [
              run.fileName,
              run.message ? h('span', { class: 'message', text: run.message }) : null,
            ]),
            h('td', { 'data-field': 'status', 'data-value': run.status }, [
              h('span', { class: `badge ${run.status}`, text: run.status }),
            ]),
            count(run, 'rowsRead'),
            count(run, 'rowsInserted'),
            count(run, 'rowsDuplicate'),
            h(
              'td',
              { class: 'num', 'data-field': 'rowsRejected', 'data-value': run.rowsRejected },
              [rejected],
            ),
            h('td', null, [
              h('time', { datetime: run.startedAt, text: localTime(run.startedAt, true) }),
            ]),
            h('td', { class: 'num', text: duration(run) }),
          ],
        );
      }),
    );
    if (focused) {
      const again = tbody.querySelector(`button[data-run-id="${focused}"]`);
      if (again) again.focus();
    }
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Rejected rows of one run: counts by reason, then the rows, keyset-paginated with `after`
  // ---------------------------------------------------------------------------------------------

  const drill = { run: null, fileName: '', reason: '', after: '0', previous: [], token: 0 };

  function markOpenRun() {
    for (const row of document.querySelectorAll('[data-testid="ledger-row"]'))
      row.classList.toggle('selected', row.dataset.runId === drill.run);
    for (const button of document.querySelectorAll('[data-testid="ledger-rejects"]'))
      button.setAttribute('aria-expanded', String(button.dataset.runId === drill.run));
  }

  async function openRun(run) {
    Object.assign(drill, {
      run: run.id,
      fileName: run.fileName,
      reason: '',
      after: '0',
      previous: [],
    });
    $('reasons').replaceChildren();
    $('rejects-title').textContent = `Rejected rows of run ${run.id} · ${run.fileName}`;
    $('rejects').hidden = false;
    markOpenRun();
    await loadRejects();
    $('rejects-title').focus();
  }

  function closeRun() {
    const run = drill.run;
    drill.run = null;
    drill.token++;
    $('rejects').hidden = true;
    markOpenRun();
    const button = document.querySelector(`[data-testid="ledger-rejects"][data-run-id="${run}"]`);
    if (button) button.focus();
  }

  function renderReasons(counts) {
    const entries = Object.entries(counts).sort(
      (a, b) => Number(b[1]) - Number(a[1]) || (a[0] < b[0] ? -1 : 1),
    );
    const total = entries.reduce((sum, [, n]) => sum + Number(n), 0);
    const button = (reason, label, n) =>
      h(
        'button',
        {
          type: 'button',
          'data-testid': 'reject-reason',
          'data-reason': reason,
          'data-count': n,
          'aria-pressed': String(drill.reason === reason),
          onclick: () => {
            Object.assign(drill, { reason, after: '0', previous: [] });
            for (const b of $('reasons').querySelectorAll('button'))
              b.setAttribute('aria-pressed', String(b.dataset.reason === reason));
            loadRejects();
          },
        },
        [label, h('span', { class: 'count', text: grouped(n) })],
      );
    $('reasons').replaceChildren(
      button('', 'All reasons', String(total)),
      ...entries.map(([reason, n]) => button(reason, reason, n)),
    );
  }

  async function loadRejects() {
    const token = ++drill.token;
    const section = $('rejects');
    section.dataset.state = 'loading';
    const params = new URLSearchParams({ limit: String(REJECTS_PAGE), after: drill.after });
    if (drill.reason) params.set('reason', drill.reason);
    const result = await getExact(`/imports/${drill.run}/rejects?${params}`);
    if (token !== drill.token) return;
    const tbody = $('rejects-table');
    if (result.status !== 200 || !result.json) {
      tbody.replaceChildren(
        h('tr', null, [h('td', { colspan: 3, class: 'empty', text: 'Could not load the rows' })]),
      );
      return;
    }
    const { reasonCounts, items, nextAfter } = result.json;
    if (!$('reasons').hasChildNodes()) renderReasons(reasonCounts);
    tbody.replaceChildren(
      ...(items.length === 0
        ? [h('tr', null, [h('td', { colspan: 3, class: 'empty', text: 'No rejected rows' })])]
        : items.map((item) =>
            h(
              'tr',
              { 'data-testid': 'reject-row', 'data-line': item.line, 'data-reason': item.reason },
              [
                h('td', { class: 'num', text: item.line }),
                h('td', { text: item.reason }),
                h('td', { class: 'raw' }, [h('code', { text: item.raw })]),
              ],
            ),
          )),
    );
    const total = drill.reason
      ? Number(reasonCounts[drill.reason] || 0)
      : Object.values(reasonCounts).reduce((s, n) => s + Number(n), 0);
    const first = drill.previous.length * REJECTS_PAGE;
    $('rejects-page').textContent =
      items.length === 0
        ? ''
        : `Rows ${grouped(first + 1)}–${grouped(first + items.length)} of ${grouped(total)}`;
    const prev = $('rejects-prev');
    const next = $('rejects-next');
    const hadFocus = document.activeElement;
    prev.disabled = drill.previous.length === 0;
    next.disabled = nextAfter === null;
    next.dataset.after = nextAfter === null ? '' : nextAfter;
    if (hadFocus === next && next.disabled) prev.focus();
    if (hadFocus === prev && prev.disabled) next.focus();
    section.dataset.key = `${drill.run}|${drill.reason}|${drill.after}`;
    section.dataset.state = 'ready';
  }

  $('rejects-next').addEventListener('click', () => {
    const after = $('rejects-next').dataset.after;
    if (!after) return;
    drill.previous.push(drill.after);
    drill.after = after;
    loadRejects();
  });
  $('rejects-prev').addEventListener('click', () => {
    if (drill.previous.length === 0) return;
    drill.after = drill.previous.pop();
    loadRejects();
  });
  $('rejects-close').addEventListener('click', closeRun);

  // ---------------------------------------------------------------------------------------------
  // Live updates: poll /health; a new dataVersion (an import committed) reloads everything.
  // ---------------------------------------------------------------------------------------------

  let shownVersion = null;
  let updatedAt = null;
  let timer = null;
  let ticking = false;

  function setLive(state, text) {
    body.dataset.live = state;
    $('status-text').textContent = text;
  }

  function liveText(health) {
    const running = health.import && health.import.state === 'running' && health.import.currentFile;
    return (
      `Live · data version ${shownVersion} · updated ${localTime(updatedAt)}` +
      (running ? ` · importing ${health.import.currentFile}` : '')
    );
  }

  async function refresh(version, health) {
    const [analyticsOk, ledgerOk] = await Promise.all([loadAnalytics(), loadLedger()]);
    if (!analyticsOk || !ledgerOk) return;
    const first = shownVersion === null;
    shownVersion = version;
    updatedAt = new Date().toISOString();
    body.dataset.version = version;
    body.dataset.state = 'ready';
    setLive('live', liveText(health));
    if (!first) $('announce').textContent = `Figures updated to data version ${version}.`;
  }

  async function tick() {
    if (ticking) return;
    ticking = true;
    try {
      const { json: health } = await getExact('/health');
      if (!health || health.dataVersion === undefined) throw new Error('no health answer');
      if (health.database && health.database.reachable === false) {
        setLive('offline', 'Database unreachable · retrying');
      } else if (health.status === 'starting') {
        const p = health.import || {};
        setLive(
          'starting',
          `Importing the start-up data: ${grouped(p.filesDone || 0)} of ${grouped(p.filesTotal || 0)} files, ` +
            `${grouped(p.rowsRead || 0)} rows read`,
        );
      } else if (health.dataVersion !== shownVersion) {
        await refresh(health.dataVersion, health);
      } else {
        setLive('live', liveText(health));
      }
    } catch {
      setLive('offline', 'Cannot reach the service · retrying');
    } finally {
      ticking = false;
      clearTimeout(timer);
      if (!document.hidden) timer = setTimeout(tick, POLL_MS);
    }
  }

  document.addEventListener('visibilitychange', () => {
    clearTimeout(timer);
    if (!document.hidden) tick(); // a hidden tab does not poll
  });

  $('range').addEventListener('submit', (event) => {
    event.preventDefault();
    const from = $('from').value;
    const to = $('to').value;
    if (from && to && from > to) {
      showNotice(`“From” (${from}) is after “To” (${to}): choose an earlier start month.`);
      return;
    }
    range.from = from;
    range.to = to;
    const query = rangeQuery();
    window.history.replaceState(null, '', query ? `/?${query}` : '/');
    if (shownVersion !== null) loadAnalytics();
  });
  $('range-reset').addEventListener('click', () => {
    range.from = '';
    range.to = '';
    $('from').value = '';
    $('to').value = '';
    window.history.replaceState(null, '', '/');
    if (shownVersion !== null) loadAnalytics();
  });

  if (typeof Chart === 'undefined')
    showNotice('The chart library did not load; every figure is in the tables below the charts.');
  else setupCharts();
  tick();
})();
