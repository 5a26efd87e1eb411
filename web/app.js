// The status page: a small client of the bridge's HTTP API (docs/OPERATIONS.md), with live updates over
// server-sent events. Plain JavaScript, no build step, nothing fetched from elsewhere. Every piece of data is put into
// the page as text (textContent), never as markup.

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const liveBadge = document.getElementById('live');

let events;
let current = { view: '', arg: '' };
let refreshTimer;

/** Create an element: h('td', {class: 'num'}, 'text', child…). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  return el;
}

function svg(tag, attrs = {}) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status === 401) {
    showLogin();
    throw new Error('login required');
  }
  const data = await res.json().catch(() => ({}));
  return { status: res.status, data };
}

function when(ms) {
  if (!ms) return 'never';
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 60) return `${Math.max(0, s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(ms).toLocaleString();
}

function duration(s) {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function stateBadge(state) {
  return h('span', { class: `badge ${state === 'online' ? 'good' : 'muted'}`, 'data-state': state }, state);
}

// ---- login ----------------------------------------------------------------------------------------------------

function showLogin(message) {
  nav.hidden = true;
  events?.close();
  events = undefined;
  liveBadge.classList.remove('on');
  liveBadge.textContent = 'offline';
  const error = h('p', { class: 'bad', id: 'login-error' }, message ?? '');
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'current-password', required: true, 'aria-label': 'admin token' });
  const form = h(
    'form',
    {
      id: 'login',
      class: 'login',
      onsubmit: async (e) => {
        e.preventDefault();
        const res = await fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: input.value }) });
        if (res.ok) start();
        else error.textContent = (await res.json().catch(() => ({}))).error ?? 'login failed';
      },
    },
    h('h1', {}, 'Log in'),
    h('label', { for: 'token' }, 'Admin token'),
    input,
    h('button', { type: 'submit' }, 'Log in'),
    error,
  );
  main.replaceChildren(form);
  input.focus();
}

document.getElementById('logout').addEventListener('click', async () => {
  await fetch('/logout', { method: 'POST' });
  showLogin();
});

// ---- routing and live updates ---------------------------------------------------------------------------------

async function start() {
  const res = await fetch('/api/session');
  if (res.status !== 200) return showLogin();
  nav.hidden = false;
  connect();
  route();
}

function connect() {
  events?.close();
  events = new EventSource('/api/events');
  events.addEventListener('open', () => {
    liveBadge.classList.add('on');
    liveBadge.textContent = 'live';
  });
  events.addEventListener('error', () => {
    liveBadge.classList.remove('on');
    liveBadge.textContent = 'reconnecting…';
  });
  events.addEventListener('overview', (e) => {
    if (current.view === 'overview') renderOverview(JSON.parse(e.data));
  });
  events.addEventListener('devices', (e) => onDevices(JSON.parse(e.data)));
  events.addEventListener('rejections', (e) => {
    const list = JSON.parse(e.data);
    if (current.view === 'device' && list.some((r) => r.device === current.arg)) scheduleRefresh();
  });
}

function route() {
  clearTimeout(refreshTimer);
  const [, view = '', arg = ''] = /^#\/([^/]*)\/?(.*)$/.exec(location.hash) ?? [];
  current = { view: view === '' ? 'overview' : view, arg: decodeURIComponent(arg) };
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('current', a.dataset.view === current.view || (current.view === 'device' && a.dataset.view === 'devices'));
  switch (current.view) {
    case 'devices':
      return showDevices();
    case 'device':
      return showDevice(current.arg);
    case 'mappings':
      return showMappings();
    case 'imports':
      return showImports();
    default:
      return showOverview();
  }
}

window.addEventListener('hashchange', route);

/** Show the current view again soon (several updates in a row make one refresh), unless the page moved on. */
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const at = location.hash;
  refreshTimer = setTimeout(() => {
    if (location.hash === at) route();
  }, 200);
}

// ---- overview -------------------------------------------------------------------------------------------------

async function showOverview() {
  main.replaceChildren(h('h1', {}, 'Overview'), h('div', { id: 'overview' }, 'Loading…'));
  const { data } = await api('/api/overview');
  renderOverview(data);
}

function card(id, label, value, sub, cls) {
  return h('div', { class: 'card', id }, h('div', { class: 'label' }, label), h('div', { class: `value ${cls ?? ''}` }, value), sub ? h('div', { class: 'sub' }, sub) : null);
}

function renderOverview(o) {
  const box = document.getElementById('overview');
  if (!box) return;
  const brokers = Object.entries(o.brokers ?? {}).map(([k, v]) => `${k} ${v}`);
  box.replaceChildren(
    h(
      'div',
      { class: 'cards' },
      card('card-xmpp', 'XMPP link', o.xmpp ? 'online' : 'offline', o.domain, o.xmpp ? 'good' : 'bad'),
      card('card-broker', 'MQTT broker', o.broker ? 'listening' : 'stopped', brokers.join(' · '), o.broker ? 'good' : 'bad'),
      card('card-uptime', 'Uptime', duration(o.uptimeSeconds ?? 0), `version ${o.version}`),
      card('card-devices', 'Devices online', `${o.devices?.online ?? 0} / ${o.devices?.known ?? 0}`, `${o.mappings} mappings`),
      card('card-rps', 'Readings / s', String(o.readingsPerSecond ?? 0)),
      card('card-cps', 'Commands / s', String(o.commandsPerSecond ?? 0)),
      card('card-outbox', 'Outbox', String(o.outbox ?? 0), 'readings awaiting the server\'s receipt'),
      card('card-rejections', 'Rejections', String(o.rejections ?? 0), 'since start', o.rejections ? 'warn' : ''),
      card('card-ready', 'Ready', o.status === 'ok' ? 'yes' : 'no', o.database ? 'database writable' : 'database not writable', o.status === 'ok' ? 'good' : 'bad'),
    ),
    h('h2', {}, 'Recent rejections'),
    rejectionList(o.recentRejections ?? [], true),
  );
}

function rejectionList(list, withDevice) {
  if (list.length === 0) return h('p', { class: 'muted' }, 'None.');
  return h(
    'ul',
    { class: 'events rejections' },
    list.map((r) =>
      h(
        'li',
        { 'data-code': r.code },
        h('span', { class: 'when' }, new Date(r.at).toLocaleTimeString()),
        h('strong', { class: 'bad' }, r.code),
        ' ',
        withDevice && r.device ? h('a', { href: `#/device/${encodeURIComponent(r.device)}` }, r.device) : null,
        withDevice && r.device ? ' ' : null,
        h('span', { class: 'mono' }, r.topic),
        h('div', {}, r.message),
        r.errors?.length ? h('ul', { class: 'errors' }, r.errors.map((e) => h('li', { class: 'schema-error' }, `${e.path || '/'}: ${e.message}`))) : null,
      ),
    ),
  );
}

// ---- devices --------------------------------------------------------------------------------------------------

let deviceFilter = { q: '', state: '' };

async function showDevices() {
  const search = h('input', { type: 'search', id: 'search', placeholder: 'Search name, JID or mapping', value: deviceFilter.q, 'aria-label': 'search' });
  const state = h('select', { id: 'state', 'aria-label': 'state' }, h('option', { value: '' }, 'all'), h('option', { value: 'online' }, 'online'), h('option', { value: 'offline' }, 'offline'));
  state.value = deviceFilter.state;
  const reload = () => {
    deviceFilter = { q: search.value, state: state.value };
    loadDevices();
  };
  search.addEventListener('input', () => {
    clearTimeout(search.timer);
    search.timer = setTimeout(reload, 200);
  });
  state.addEventListener('change', reload);
  main.replaceChildren(
    h('h1', {}, 'Devices'),
    h('div', { class: 'toolbar' }, search, state),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { id: 'devices' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', {}, 'Name'),
            h('th', { class: 'hide-narrow' }, 'JID'),
            h('th', { class: 'hide-narrow' }, 'Mapping'),
            h('th', {}, 'State'),
            h('th', { class: 'hide-narrow' }, 'Last seen'),
            h('th', {}, 'Last reading'),
            h('th', { class: 'hide-narrow' }, 'Subscribers'),
            h('th', { class: 'hide-narrow' }, 'Readings/min'),
          ),
        ),
        h('tbody', {}),
      ),
    ),
    h('p', { id: 'devices-total', class: 'muted' }),
  );
  await loadDevices();
}

async function loadDevices() {
  const qs = new URLSearchParams({ q: deviceFilter.q, state: deviceFilter.state, limit: '500' });
  const { data } = await api(`/api/devices?${qs}`);
  const body = document.querySelector('#devices tbody');
  if (!body) return;
  body.replaceChildren(...data.rows.map(deviceTr));
  document.getElementById('devices-total').textContent = `${data.total} device${data.total === 1 ? '' : 's'}${data.total > data.rows.length ? `, first ${data.rows.length} shown` : ''}`;
}

function deviceTr(d) {
  return h(
    'tr',
    { 'data-jid': d.jid },
    h('td', {}, h('a', { href: `#/device/${encodeURIComponent(d.jid)}` }, d.name)),
    h('td', { class: 'jid hide-narrow' }, d.jid),
    h('td', { class: 'hide-narrow', title: d.origin }, d.mapping),
    h('td', {}, stateBadge(d.state)),
    h('td', { class: 'hide-narrow' }, when(d.lastSeen)),
    h('td', { class: 'reading' }, d.lastReading ? d.lastReading.body ?? '(large payload)' : '—'),
    h('td', { class: 'num hide-narrow' }, `${d.subscribers.online} / ${d.subscribers.total}`),
    h('td', { class: 'num hide-narrow' }, String(d.readingsPerMinute)),
  );
}

function matchesFilter(d) {
  if (deviceFilter.state && d.state !== deviceFilter.state) return false;
  const q = deviceFilter.q.trim().toLowerCase();
  return !q || d.name.toLowerCase().includes(q) || d.jid.includes(q) || d.mapping.toLowerCase().includes(q);
}

function onDevices(update) {
  if (current.view === 'device') {
    if (update.reload || update.rows.some((r) => r.jid === current.arg)) scheduleRefresh();
    return;
  }
  if (current.view !== 'devices') return;
  const body = document.querySelector('#devices tbody');
  if (!body) return;
  if (update.reload) return void loadDevices();
  let added = false;
  for (const d of update.rows) {
    const tr = body.querySelector(`tr[data-jid="${CSS.escape(d.jid)}"]`);
    if (d.removed || !matchesFilter(d)) {
      tr?.remove();
      continue;
    }
    if (tr) {
      const fresh = deviceTr(d);
      fresh.classList.add('flash');
      tr.replaceWith(fresh);
    } else added = true;
  }
  if (added) loadDevices();
}

// ---- one device -----------------------------------------------------------------------------------------------

async function showDevice(jid) {
  const { status, data: d } = await api(`/api/devices/${encodeURIComponent(jid)}`);
  if (status === 404) return main.replaceChildren(h('h1', {}, 'No such device'), h('p', {}, h('a', { href: '#/devices' }, 'All devices')));
  const renameInput = h('input', { id: 'rename', value: d.name, 'aria-label': 'name', maxlength: 100 });
  const outcome = h('p', { id: 'device-outcome', class: 'result' });
  const commandSelect = h('select', { id: 'command-name', 'aria-label': 'command' }, d.commandNames.map((c) => h('option', { value: c.name }, c.name)));
  const commandPayload = h('textarea', { id: 'command-payload', 'aria-label': 'command payload', placeholder: '{"state": "ON"}' });
  const commandResult = h('pre', { id: 'command-result', hidden: true });
  main.replaceChildren(
    ...[
      h('h1', { id: 'device-name' }, d.name, ' ', stateBadge(d.state)),
      h(
        'div',
        { class: 'cards' },
        card('dev-jid', 'JID', d.jid, d.via ? `heard on the ${d.via} broker` : null, 'small mono'),
        card('dev-mapping', 'Mapping', d.mapping, d.origin),
        card('dev-seen', 'Last seen', when(d.lastSeen)),
        card('dev-subs', 'Subscribers online', `${d.subscribers.online} / ${d.subscribers.total}`),
        card('dev-rate', 'Readings / min', String(d.readingsPerMinute)),
      ),
      h('h2', {}, 'Recent readings'),
      chart(d.series),
      h(
        'ul',
        { class: 'events', id: 'readings' },
        [...d.readings].reverse().slice(0, 10).map((r) => h('li', {}, h('span', { class: 'when' }, new Date(r.at).toLocaleTimeString()), r.body ?? `(${r.size} characters, not kept)`)),
      ),
      h(
        'div',
        { class: 'grid2' },
        h('section', {}, h('h2', {}, 'Rejections'), h('div', { id: 'rejections' }, rejectionList(d.rejections, false))),
        h(
          'section',
          {},
          h('h2', {}, 'Commands'),
          d.commands.length === 0
            ? h('p', { class: 'muted', id: 'commands' }, 'None yet.')
            : h(
                'ul',
                { class: 'events', id: 'commands' },
                d.commands.map((c) =>
                  h(
                    'li',
                    { 'data-code': c.code },
                    h('span', { class: 'when' }, new Date(c.at).toLocaleTimeString()),
                    h('strong', { class: c.code === 'OK' ? 'good' : 'bad' }, c.code),
                    ` ${c.command} from ${c.from} (${c.origin})${c.confirmed ? ', confirmed' : ''}${c.queued ? ', held until the device was back' : ''}`,
                    c.message ? h('div', {}, c.message) : null,
                  ),
                ),
              ),
        ),
      ),
      d.commandNames.length
        ? h(
            'section',
            {},
            h('h2', {}, 'Send a command'),
            h(
              'form',
              {
                id: 'command-form',
                onsubmit: async (e) => {
                  e.preventDefault();
                  const { data } = await api(`/api/devices/${encodeURIComponent(d.jid)}/command`, { command: commandSelect.value, payload: commandPayload.value || '{}' });
                  commandResult.hidden = false;
                  commandResult.textContent = JSON.stringify(data, null, 2);
                },
              },
              h('div', { class: 'toolbar' }, commandSelect),
              commandPayload,
              h('p', {}, h('button', { type: 'submit' }, 'Send as operator')),
              commandResult,
            ),
          )
        : null,
      h('h2', {}, 'Manage'),
      h(
        'form',
        {
          class: 'inline',
          id: 'rename-form',
          onsubmit: async (e) => {
            e.preventDefault();
            const { data } = await api(`/api/devices/${encodeURIComponent(d.jid)}/rename`, { name: renameInput.value });
            outcome.textContent = data.status === 'ok' ? `Renamed to ${data.data.name}.` : data.error;
            if (data.status === 'ok') scheduleRefresh();
          },
        },
        renameInput,
        h('button', { type: 'submit' }, 'Rename'),
        h(
          'button',
          {
            type: 'button',
            class: 'danger',
            id: 'remove',
            onclick: async () => {
              if (!confirm(`Forget ${d.jid}? It comes back with its next reading.`)) return;
              const { data } = await api(`/api/devices/${encodeURIComponent(d.jid)}/remove`, {});
              if (data.status === 'ok') location.hash = '#/devices';
              else outcome.textContent = data.error;
            },
          },
          'Remove',
        ),
      ),
      outcome,
    ].filter(Boolean),
  );
}

/** Each numeric field on its own scale, the readings evenly spaced in their order (the legend gives the values). */
function chart(series) {
  if (!series.length) return h('p', { class: 'muted', id: 'chart' }, 'No numeric readings yet.');
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const x = (t) => (times.length === 1 ? 300 : (times.indexOf(t) / (times.length - 1)) * 600);
  const box = svg('svg', { viewBox: '0 0 600 160', preserveAspectRatio: 'none', role: 'img', 'aria-label': 'recent readings' });
  series.forEach((s, i) => {
    const vs = s.points.map((p) => p[1]);
    const lo = Math.min(...vs);
    const hi = Math.max(...vs);
    const pts = s.points.map(([t, v]) => `${x(t)},${hi === lo ? 80 : 150 - ((v - lo) / (hi - lo)) * 140}`);
    box.append(svg('polyline', { points: pts.join(' '), class: `c${i % 6}`, 'data-field': s.field }));
  });
  const legend = h(
    'div',
    { class: 'legend' },
    series.map((s, i) => {
      const vs = s.points.map((p) => p[1]);
      return h('span', { class: `c${i % 6}` }, `${s.field}: ${vs[vs.length - 1]} (${Math.min(...vs)} – ${Math.max(...vs)})`);
    }),
  );
  return h('div', { class: 'chart', id: 'chart' }, box, legend);
}

// ---- mappings and preview -------------------------------------------------------------------------------------

async function showMappings() {
  const { data } = await api('/api/mappings');
  const topic = h('input', { id: 'preview-topic', placeholder: 'sensors/home/kitchen/telemetry', 'aria-label': 'topic' });
  const payload = h('textarea', { id: 'preview-payload', placeholder: '{"temperature": 21.5}', 'aria-label': 'payload' });
  const result = h('div', { id: 'preview-result', class: 'result' });
  const reloadOut = h('span', { id: 'reload-result', class: 'muted' });
  main.replaceChildren(
    h('h1', {}, 'Mappings'),
    ...(data.lastReloadFailure
      ? [h('div', { class: 'card bad', id: 'reload-failure' }, `The last reload (${data.lastReloadFailure.origin}) changed nothing:`, h('ul', {}, data.lastReloadFailure.problems.map((p) => h('li', {}, p))))]
      : []),
    h(
      'div',
      { class: 'toolbar' },
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          id: 'reload',
          onclick: async () => {
            const { data: r } = await api('/api/reload', {});
            reloadOut.textContent = r.status === 'ok' ? `Reloaded: ${r.data.added.length} added, ${r.data.replaced.length} replaced, ${r.data.removed.length} removed.` : r.error;
          },
        },
        'Reload mapping files',
      ),
      reloadOut,
    ),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { id: 'mappings' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Mapping'), h('th', { class: 'hide-narrow' }, 'Origin'), h('th', {}, 'Topic'), h('th', { class: 'hide-narrow' }, 'JID'), h('th', {}, 'Devices'), h('th', {}, 'Problems'))),
        h(
          'tbody',
          {},
          data.mappings.map((m) => {
            const rejected = Object.entries(m.rejections).map(([code, n]) => `${n} × ${code}`);
            return h(
              'tr',
              { 'data-mapping': m.id },
              h('td', {}, h('strong', {}, m.id), m.description ? h('div', { class: 'muted' }, m.description) : null),
              h('td', { class: 'hide-narrow mono' }, m.origin),
              h('td', { class: 'mono' }, m.topic),
              h('td', { class: 'hide-narrow mono' }, m.jid),
              h('td', { class: 'num' }, String(m.devices)),
              h('td', {}, [...m.problems, ...(rejected.length ? [`rejected: ${rejected.join(', ')}`] : [])].join('; ') || '—'),
            );
          }),
        ),
      ),
    ),
    h('h2', {}, 'Preview'),
    h('p', { class: 'muted' }, 'What the bridge would do with one publish — nothing is sent.'),
    h(
      'form',
      {
        id: 'preview',
        onsubmit: async (e) => {
          e.preventDefault();
          const { data: r } = await api('/api/preview', { topic: topic.value, payload: payload.value });
          renderPreview(result, r);
        },
      },
      h('div', { class: 'toolbar' }, topic),
      payload,
      h('p', {}, h('button', { type: 'submit', id: 'preview-run' }, 'Preview')),
    ),
    result,
  );
}

function renderPreview(box, r) {
  if (r.status === 'error') return box.replaceChildren(h('p', { class: 'bad' }, r.error));
  const rows = [h('p', { id: 'preview-outcome' }, h('strong', { class: r.outcome === 'delivered' ? 'good' : 'bad' }, r.outcome === 'unmapped' ? 'No mapping takes this topic.' : r.outcome))];
  if (r.mapping) rows.push(h('p', {}, `Mapping ${r.mapping}`));
  if (r.device) rows.push(h('p', {}, `Device ${r.device.jid} (${r.device.name})${r.device.known ? '' : ' — new: this publish would register it'}`));
  if (r.outcome === 'rejected') {
    rows.push(h('p', { id: 'preview-code' }, `${r.code}: ${r.message}`));
    if (r.errors.length) rows.push(h('ul', { class: 'errors', id: 'preview-errors' }, r.errors.map((e) => h('li', {}, `${e.path || '/'}: ${e.message}`))));
  }
  if (r.outcome === 'delivered') {
    rows.push(h('p', {}, r.recipients.length ? `To ${r.recipients.join(', ')}` : 'Nobody to tell now (no subscriber, no listed JID).'));
    rows.push(h('pre', { id: 'preview-stanza' }, r.stanza));
  }
  box.replaceChildren(...rows);
}

// ---- imports --------------------------------------------------------------------------------------------------

async function showImports() {
  const { data } = await api('/api/imports');
  if (data.status !== 'ok') return main.replaceChildren(h('h1', {}, 'Imports'), h('p', { class: 'muted', id: 'imports-status' }, `Nothing to approve: ${data.error}.`));
  const pending = data.data.pending ?? [];
  main.replaceChildren(
    h('h1', {}, 'Imports pending approval'),
    pending.length === 0
      ? h('p', { class: 'muted', id: 'imports-status' }, 'None pending.')
      : h(
          'ul',
          { class: 'events', id: 'imports' },
          pending.map((p) => {
            // The source goes with the id: two sources may know one hardware id.
            const decide = (action) => async () => (await api(`/api/imports/${encodeURIComponent(p.id)}/${action}`, { source: p.source }), showImports());
            return h(
              'li',
              { 'data-id': p.id, 'data-source': p.source },
              h('strong', {}, p.name ?? p.id),
              ` ${p.source} ${p.id}${p.model ? ` (${p.model})` : ''} `,
              h('button', { type: 'button', onclick: decide('approve') }, 'Approve'),
              ' ',
              h('button', { type: 'button', class: 'danger', onclick: decide('block') }, 'Block'),
            );
          }),
        ),
  );
}

start();
