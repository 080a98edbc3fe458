// ndxp monitoring dashboard.
//
// Plain DOM, no framework, no build step. The page reads /api/snapshot once,
// then follows /api/events: a "snapshot" event carrying the same JSON, then
// "delta" events carrying only what changed (the changed fields, the new
// and changed agency lines, the codes of removed agencies). Agency names come from the registry, so every piece of text goes
// in through textContent and is never parsed as HTML. Table rows are built
// once per agency and then updated in place, so a hub with 10,000 agencies
// stays fast.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  // ---------- labels ----------

  const STAGE = { pending: 'chờ kết nối', pilot: 'thử nghiệm', production: 'chính thức' };
  const STAGE_RANK = { pending: 0, pilot: 1, production: 2 };
  const ALERT_KIND = {
    unacknowledged: 'chưa xác nhận',
    offline_backlog: 'ngoại tuyến khi có văn bản chờ',
    delivery_failures: 'bên nhận báo lỗi',
  };
  // The order an agency's problems are listed in, most telling first.
  const ALERT_ORDER = { delivery_failures: 0, unacknowledged: 1, offline_backlog: 2 };
  // Status codes of docs/domain.md; 07-12 and 14 have no confirmed meaning.
  const STATUS = {
    '': ['chờ nhận', 'queued'],
    '01': ['đã đến', 'progress'],
    '02': ['từ chối nhận', 'refused'],
    '03': ['đã tiếp nhận', 'progress'],
    '04': ['đã phân công', 'progress'],
    '05': ['đang xử lý', 'progress'],
    '06': ['hoàn thành', 'done'],
    '13': ['yêu cầu thu hồi', 'progress'],
    '15': ['chấp nhận thu hồi/cập nhật', 'done'],
    '16': ['từ chối thu hồi/cập nhật', 'refused'],
  };
  const RECALL = {
    '13': 'đã yêu cầu thu hồi',
    '15': 'đã chấp nhận thu hồi',
    '16': 'từ chối thu hồi',
    withdrawn: 'đã rút lại',
  };
  const LIVE_OK = 'Trực tiếp';
  const LIVE_DOWN = 'Mất kết nối — đang thử lại';
  const BASE_TITLE = document.title;
  const MAX_ALERTS_SHOWN = 200;
  // Rows in the table at once. Every agency is kept, filtered and sorted,
  // but only this many (more on request) have elements: 100,000 rows in the
  // document took seconds for every change and froze the page.
  const PAGE_ROWS = 1000;

  // ---------- formatting ----------

  const numFmt = new Intl.NumberFormat('vi-VN');
  const absFmt = new Intl.DateTimeFormat('vi-VN', { dateStyle: 'short', timeStyle: 'medium' });
  const hmsFmt = new Intl.DateTimeFormat('vi-VN', { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  const hmFmt = new Intl.DateTimeFormat('vi-VN', { hour: '2-digit', minute: '2-digit', hour12: false });
  const collator = new Intl.Collator('vi', { sensitivity: 'base', numeric: true });

  const fmtInt = (n) => numFmt.format(n || 0);

  // Server time minus browser time, from the last snapshot: ages are
  // measured on the hub's clock, so a skewed laptop clock does not lie.
  let skew = 0;
  const now = () => Date.now() + skew;

  // parseTime reads Go's RFC 3339 (nanoseconds trimmed to milliseconds,
  // which every engine parses); the zero time and absent values give 0.
  function parseTime(s) {
    if (!s) return 0;
    const t = Date.parse(String(s).replace(/(\.\d{3})\d+/, '$1'));
    return Number.isFinite(t) && t > 0 ? t : 0;
  }

  // duration: "45 giây", "3 phút", "2 giờ", "4 ngày".
  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + ' giây';
    const m = Math.floor(s / 60);
    if (m < 60) return m + ' phút';
    const h = Math.floor(m / 60);
    if (h < 24) return h + ' giờ';
    return Math.floor(h / 24) + ' ngày';
  }

  function ago(t) {
    if (!t) return '—';
    const d = now() - t;
    if (d < 5000) return 'vừa xong';
    return duration(d) + ' trước';
  }

  const abs = (t) => (t ? absFmt.format(new Date(t)) : '—');

  // fold lower-cases and strips Vietnamese diacritics: NFD splits off the
  // combining marks; đ has no decomposition, so it is mapped by hand.
  function fold(s) {
    return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/đ/g, 'd');
  }
  function lower(s) {
    return String(s).normalize('NFC').toLocaleLowerCase('vi').replace(/\s+/g, ' ').trim();
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function setText(e, text) {
    if (e.textContent !== text) e.textContent = text;
  }

  // ---------- state ----------

  const state = {
    lastTime: 0,
    snap: null,
    rows: new Map(), // code -> row (its agency, and its elements while shown)
    order: [], // rows shown, in display order
    limit: PAGE_ROWS, // most rows shown
    // Agencies that need an operator (documents waiting, or an alert)
    // come first, the longest stuck on top, until a column is chosen.
    sortKey: 'attention',
    sortDir: 1,
    alerted: new Set(), // agencies named by an alert
    q: '',
    qFolded: '',
    stage: '',
    online: '',
  };

  const table = $('agencies');
  const tbody = table.querySelector('tbody');

  // ---------- counters ----------

  function renderTiles(s) {
    const o = s.overview || {};
    setText($('count-total'), fmtInt(o.total));
    setText($('count-pending'), fmtInt(o.pending));
    setText($('count-pilot'), fmtInt(o.pilot));
    setText($('count-production'), fmtInt(o.production));
    setText($('count-suspended'), fmtInt(o.suspended));
    setText($('count-online'), fmtInt(o.online));
    setText($('count-docs-today'), fmtInt(s.documents_today));
    setText($('delivered-today'), 'đã chuyển ' + fmtInt(s.delivered_today));
    setText($('count-pending-deliveries'), fmtInt(s.pending_deliveries));
    $('tile-suspended').classList.toggle('warn', (o.suspended || 0) > 0);
    $('tile-pending-deliveries').classList.toggle('warn', (s.pending_deliveries || 0) > 0);
    renderOldest();
  }

  function renderOldest() {
    const s = state.snap;
    const out = $('oldest-pending');
    const tile = $('tile-oldest');
    const t = s ? parseTime(s.oldest_pending) : 0;
    if (!t) {
      setText(out, '—');
      out.title = 'Không có văn bản chờ nhận';
      tile.classList.remove('warn', 'bad');
      return;
    }
    const age = now() - t;
    setText(out, duration(age));
    out.title = 'Từ ' + abs(t);
    const limit = ((s.thresholds && s.thresholds.unacked_after_ns) || 0) / 1e6;
    const bad = limit > 0 && age >= limit;
    tile.classList.toggle('bad', bad);
    tile.classList.toggle('warn', !bad);
  }

  // ---------- agency table ----------

  function newRow(code) {
    return { code, a: null, hay: '', hayFolded: '', seenAt: 0, polledAt: 0, stuckSince: 0, dom: null, painted: null };
  }

  // buildDom makes a row's elements when it is shown.
  function buildDom(r) {
    const tr = el('tr');
    tr.dataset.code = r.code;
    tr.tabIndex = 0;
    tr.setAttribute('role', 'row'); // the CSS lays rows out as grids
    if (dd.code === r.code) tr.classList.add('selected');
    const d = {
      tr,
      code_: el('td', 'mono', r.code),
      name: el('td', 'name'),
      stage: el('td', 'stage'),
      badge: el('span', 'badge'),
      susp: el('span', 'badge suspended', 'tạm ngừng'),
      online: el('td', 'offline'),
      onlineText: document.createTextNode(''),
      seen: el('td', 'seen'),
      pending: el('td', 'num'),
      sent: el('td', 'num'),
      received: el('td', 'num'),
    };
    d.stage.append(d.badge, d.susp);
    d.online.append(el('span', 'odot'), d.onlineText);
    tr.append(d.code_, d.name, d.stage, d.online, d.seen, d.pending, d.sent, d.received);
    for (const td of tr.cells) td.setAttribute('role', 'cell');
    return d;
  }

  // seenText: "bây giờ" while a stream is open; for an agency that polls
  // (VXP), when it last polled.
  function seenText(a, r) {
    if (a.online && a.via !== 'polling') return 'bây giờ';
    if (a.online) return 'hỏi ' + ago(r.polledAt);
    return ago(r.seenAt);
  }

  // setData takes a row's agency from a snapshot and says whether anything
  // that filters or sorts changed; a shown row is repainted.
  function setData(r, a) {
    const p = r.a || {};
    const moved = a.name !== p.name || a.stage !== p.stage || a.suspended !== p.suspended ||
      a.online !== p.online || a.via !== p.via || a.last_seen !== p.last_seen || a.pending !== p.pending ||
      a.oldest_pending !== p.oldest_pending || a.sent_today !== p.sent_today || a.received_today !== p.received_today;
    if (a.name !== p.name) {
      r.hay = lower(a.code + ' ' + a.name);
      r.hayFolded = fold(r.hay);
    }
    if (a.last_seen !== p.last_seen) r.seenAt = parseTime(a.last_seen);
    if (a.last_polled !== p.last_polled) r.polledAt = parseTime(a.last_polled);
    if (a.oldest_pending !== p.oldest_pending) r.stuckSince = parseTime(a.oldest_pending);
    r.a = a;
    if (r.dom) paint(r);
    return moved;
  }

  // paint makes a row's elements if it has none and touches only what
  // changed since they were last painted.
  function paint(r) {
    if (!r.dom) {
      r.dom = buildDom(r);
      r.painted = null;
    }
    const d = r.dom;
    const a = r.a;
    const p = r.painted || {};
    if (a.name !== p.name) {
      d.name.textContent = a.name;
      d.name.title = a.name;
    }
    if (a.stage !== p.stage) {
      d.badge.className = 'badge ' + a.stage;
      d.badge.textContent = STAGE[a.stage] || a.stage;
    }
    if (a.suspended !== p.suspended) d.susp.hidden = !a.suspended;
    if (a.online !== p.online || a.via !== p.via || a.connected_since !== p.connected_since ||
      a.last_seen !== p.last_seen || a.last_polled !== p.last_polled) {
      const polling = a.online && a.via === 'polling';
      d.online.className = a.online ? 'online' : 'offline';
      d.online.dataset.online = String(!!a.online);
      d.online.dataset.via = a.via || '';
      // A system on the agencies' SDK (VXP) polls instead of holding a
      // stream: it is online, but only as fresh as its last poll.
      d.onlineText.data = polling ? 'hỏi định kỳ' : a.online ? 'trực tuyến' : 'ngoại tuyến';
      const since = parseTime(a.connected_since);
      const lastPoll = r.polledAt ? ' · hỏi lần cuối lúc ' + abs(r.polledAt) : '';
      d.online.title = polling
        ? 'Trực tuyến qua hỏi định kỳ (VXP) từ ' + abs(since) + lastPoll
        : a.online
          ? 'Giữ kết nối từ ' + abs(since) + lastPoll
          : (r.seenAt ? 'Ngắt kết nối lúc ' + abs(r.seenAt) : 'Chưa kết nối kể từ khi trục khởi động') + lastPoll;
      d.seen.title = polling ? 'Hỏi lần cuối lúc ' + abs(r.polledAt)
        : a.online ? 'Đang giữ kết nối từ ' + abs(since) : (r.seenAt ? abs(r.seenAt) : '');
    }
    setText(d.seen, seenText(a, r));
    if (a.pending !== p.pending || a.oldest_pending !== p.oldest_pending) {
      d.pending.textContent = fmtInt(a.pending);
      d.pending.className = a.pending > 0 ? 'num hot' : 'num zero';
      const op = parseTime(a.oldest_pending);
      d.pending.title = a.pending > 0 && op ? 'Văn bản chờ lâu nhất từ ' + abs(op) : '';
    }
    if (a.sent_today !== p.sent_today) {
      d.sent.textContent = fmtInt(a.sent_today);
      d.sent.className = a.sent_today ? 'num' : 'num zero';
    }
    if (a.received_today !== p.received_today) {
      d.received.textContent = fmtInt(a.received_today);
      d.received.className = a.received_today ? 'num' : 'num zero';
    }
    r.painted = a;
  }

  function renderRows(list, force) {
    const seen = new Set();
    let moved = false;
    for (const a of list || []) {
      seen.add(a.code);
      let r = state.rows.get(a.code);
      if (!r) {
        r = newRow(a.code);
        state.rows.set(a.code, r);
      }
      if (setData(r, a)) moved = true;
    }
    if (seen.size !== state.rows.size) {
      moved = true;
      for (const code of state.rows.keys()) {
        if (!seen.has(code)) state.rows.delete(code);
      }
    }
    // Most pushes are heartbeats that change nothing: no need to filter
    // and sort 10,000 rows again.
    if (moved || force) applyView();
  }

  // renderRowsDelta applies a delta's agency lines: only the rows that
  // changed are touched, and the view is refiltered only if one moved.
  function renderRowsDelta(changed, removed, force) {
    let moved = false;
    for (const a of changed || []) {
      let r = state.rows.get(a.code);
      if (!r) {
        r = newRow(a.code);
        state.rows.set(a.code, r);
        moved = true;
      }
      if (setData(r, a)) moved = true;
    }
    for (const code of removed || []) {
      if (state.rows.delete(code)) moved = true;
    }
    if (moved || force) applyView();
  }

  function matches(r) {
    const a = r.a;
    if (state.stage) {
      if (state.stage === 'suspended') {
        if (!a.suspended) return false;
      } else if (a.stage !== state.stage) return false;
    }
    switch (state.online) {
      case 'online': if (!a.online) return false; break;
      case 'offline': if (a.online) return false; break;
      case 'backlog': if (!(a.pending > 0)) return false; break;
    }
    if (state.q) {
      // As typed first (case-insensitive), then both sides without
      // diacritics, so "da nang" and "Đà Nẵng" both find "UBND thành phố Đà Nẵng".
      return r.hay.includes(state.q) || r.hayFolded.includes(state.qFolded);
    }
    return true;
  }

  const sortValue = {
    code: (a) => a.code,
    name: (a) => a.name,
    stage: (a) => (STAGE_RANK[a.stage] ?? -1) * 2 + (a.suspended ? 1 : 0),
    online: (a) => (a.online ? 1 : 0),
    seen: (a, r) => (a.online ? Number.MAX_SAFE_INTEGER : r.seenAt),
    pending: (a) => a.pending || 0,
    sent: (a) => a.sent_today || 0,
    received: (a) => a.received_today || 0,
  };

  // needsAttention: documents wait for the agency, or an alert names it.
  const needsAttention = (r) => (r.a.pending || 0) > 0 || state.alerted.has(r.code);

  function compareRows(x, y) {
    const k = state.sortKey;
    if (k === 'attention') {
      const ax = needsAttention(x), ay = needsAttention(y);
      if (ax !== ay) return ax ? -1 : 1;
      if (ax) { // the longest stuck first
        const sx = x.stuckSince || Infinity, sy = y.stuckSince || Infinity;
        if (sx !== sy) return sx < sy ? -1 : 1;
      }
      return x.code < y.code ? -1 : x.code > y.code ? 1 : 0;
    }
    let c;
    if (k === 'name') {
      c = collator.compare(x.a.name, y.a.name);
    } else {
      const f = sortValue[k];
      const vx = f(x.a, x);
      const vy = f(y.a, y);
      c = vx < vy ? -1 : vx > vy ? 1 : 0;
    }
    if (c === 0 && k !== 'code') return x.code < y.code ? -1 : x.code > y.code ? 1 : 0;
    return c * state.sortDir;
  }

  // applyView filters and sorts every row, shows the first state.limit,
  // and moves elements only when what is shown changed. Rows no longer
  // shown drop their elements.
  function applyView() {
    const list = [];
    for (const r of state.rows.values()) if (matches(r)) list.push(r);
    list.sort(compareRows);
    const shown = list.length > state.limit ? list.slice(0, state.limit) : list;
    const old = state.order;
    let same = old.length === shown.length;
    for (let i = 0; same && i < shown.length; i++) same = old[i] === shown[i];
    if (!same) {
      const keep = new Set(shown);
      for (const r of old) {
        if (!keep.has(r)) {
          r.dom = null;
          r.painted = null;
        }
      }
      const frag = document.createDocumentFragment();
      for (let i = 0; i < shown.length; i++) {
        const r = shown[i];
        if (!r.dom) paint(r);
        r.dom.tr.setAttribute('aria-rowindex', String(i + 2)); // the header row is 1
        frag.appendChild(r.dom.tr);
      }
      tbody.replaceChildren(frag);
      state.order = shown;
    }
    // Assistive technology learns how many rows match, not only how many
    // are in the document.
    table.setAttribute('aria-rowcount', String(list.length + 1));
    const total = state.rows.size;
    let text = list.length === total
      ? fmtInt(total) + ' cơ quan'
      : 'Hiển thị ' + fmtInt(list.length) + ' / ' + fmtInt(total);
    if (shown.length < list.length) text += ' (' + fmtInt(shown.length) + ' dòng đầu)';
    setText($('shown'), text);
    const more = $('more-rows');
    more.hidden = shown.length >= list.length;
    setText(more, 'Hiện thêm ' + fmtInt(Math.min(PAGE_ROWS, list.length - shown.length)) + ' dòng');
    const none = $('no-rows');
    none.hidden = list.length > 0 || !state.snap;
    setText(none, total === 0 ? 'Chưa có cơ quan nào được đăng ký.' : 'Không có cơ quan nào khớp bộ lọc.');
  }

  // A new search, filter or order starts again from the first page.
  function applyNewView() {
    state.limit = PAGE_ROWS;
    applyView();
  }

  function setSort(key) {
    if (state.sortKey === key) {
      state.sortDir = -state.sortDir;
    } else {
      state.sortKey = key;
      // Numbers and times read best largest (or most recent) first.
      state.sortDir = ['pending', 'sent', 'received', 'seen', 'online'].includes(key) ? -1 : 1;
    }
    for (const th of document.querySelectorAll('#agencies th[data-sort]')) {
      if (th.dataset.sort === state.sortKey) th.setAttribute('aria-sort', state.sortDir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    }
    applyNewView();
  }

  // ---------- alerts ----------

  let alertTimes = []; // [element, time] for the relative-time refresh
  let alertsKey = null;

  // groupAlerts makes one entry per agency, in the order the hub sorted
  // its alerts (the oldest condition first), with all its problems: an
  // agency offline with overdue documents that its system also reports
  // failing is one line to look at, not three.
  function groupAlerts(alerts) {
    const byCode = new Map();
    for (const al of alerts) {
      let g = byCode.get(al.agency);
      if (!g) {
        g = { agency: al.agency, name: al.name, since: parseTime(al.since), problems: [] };
        byCode.set(al.agency, g);
      }
      const t = parseTime(al.since);
      if (t && (!g.since || t < g.since)) g.since = t;
      g.problems.push(al);
    }
    const out = Array.from(byCode.values());
    for (const g of out) g.problems.sort((a, b) => (ALERT_ORDER[a.kind] ?? 9) - (ALERT_ORDER[b.kind] ?? 9));
    return out;
  }

  function alertDetail(al) {
    const detail = el('span', 'detail');
    detail.dataset.kind = al.kind;
    if (al.kind === 'offline_backlog') {
      detail.textContent = fmtInt(al.count) + ' văn bản đang chờ cơ quan này kết nối';
    } else if (al.kind === 'delivery_failures') {
      const n = al.count || 1;
      detail.append(document.createTextNode((n > 1 ? fmtInt(n) + ' văn bản' : 'Văn bản') + ' bên nhận báo không nhận được (' +
        fmtInt(al.failures) + ' lần), ' + (n > 1 ? 'cũ nhất ' : '')), el('span', 'mono', al.document || ''));
    } else if ((al.count || 1) > 1) {
      detail.append(document.createTextNode(fmtInt(al.count) + ' văn bản chưa được xác nhận đã nhận, cũ nhất '),
        el('span', 'mono', al.document || ''));
    } else {
      detail.append(document.createTextNode('Văn bản '), el('span', 'mono', al.document || ''),
        document.createTextNode(' chưa được xác nhận đã nhận'));
    }
    return detail;
  }

  function renderAlerts(alerts) {
    alerts = alerts || [];
    // Rebuild only on a change, so keyboard focus and hover survive heartbeats.
    const key = JSON.stringify(alerts);
    if (key === alertsKey) return;
    alertsKey = key;
    const groups = groupAlerts(alerts);
    const box = $('alerts');
    const count = $('alerts-count');
    count.textContent = fmtInt(groups.length);
    count.title = fmtInt(groups.length) + ' cơ quan cần xem';
    count.classList.toggle('bad', groups.length > 0);
    document.title = groups.length ? '(' + groups.length + ') ' + BASE_TITLE : BASE_TITLE;
    alertTimes = [];
    if (groups.length === 0) {
      box.replaceChildren(el('p', 'empty', 'Không có cảnh báo'));
      return;
    }
    const ul = el('ul');
    for (const g of groups.slice(0, MAX_ALERTS_SHOWN)) {
      const li = el('li');
      li.tabIndex = 0;
      li.dataset.code = g.agency;
      li.dataset.kinds = g.problems.map((al) => al.kind).join(' ');
      li.title = g.problems.map((al) => al.message || '').filter(Boolean).join('\n');
      const when = el('span', 'since', ago(g.since));
      when.title = abs(g.since);
      alertTimes.push([when, g.since]);
      const who = el('span', 'who');
      who.append(el('span', 'mono', g.agency), document.createTextNode(g.name ? ' — ' + g.name : ''));
      who.title = g.agency + (g.name ? ' — ' + g.name : '');
      const kinds = el('span', 'kinds');
      const details = el('span', 'details');
      for (const al of g.problems) {
        kinds.append(el('span', 'kind ' + al.kind, ALERT_KIND[al.kind] || al.kind));
        details.append(alertDetail(al));
      }
      li.append(kinds, who, when, details);
      ul.append(li);
    }
    if (groups.length > MAX_ALERTS_SHOWN) {
      ul.append(el('li', 'more', '… và ' + fmtInt(groups.length - MAX_ALERTS_SHOWN) + ' cơ quan khác'));
    }
    box.replaceChildren(ul);
  }

  // ---------- cluster ----------

  const CLUSTER_STATE = { Leader: 'nút dẫn (leader)', Follower: 'nút theo (follower)', Candidate: 'đang bầu chọn', Shutdown: 'đã dừng' };
  // A node this many committed entries behind, or a follower that has not
  // heard from the leader for this long, is named in the alert.
  const CLUSTER_LAG_ALERT = 1000;
  const CLUSTER_CONTACT_ALERT_MS = 5000;
  let clusterKey = null;

  // renderCluster shows the panel of a hub that runs as a cluster (the
  // snapshot's cluster field); a single-node hub has none and no panel.
  function renderCluster(c) {
    const panel = $('cluster');
    if (!c) {
      panel.hidden = true;
      clusterKey = null;
      return;
    }
    panel.hidden = false;
    const key = JSON.stringify(c);
    if (key === clusterKey) return;
    clusterKey = key;
    const members = c.members || [];
    const down = members.filter((m) => m.down);
    setText($('cluster-summary'), fmtInt(members.length) + ' nút' + (down.length ? ', ' + fmtInt(down.length) + ' không liên lạc được' : ''));
    const alert = $('cluster-alert');
    const problems = [];
    if (c.error) problems.push(c.error);
    if (!c.leader) problems.push('Chưa có nút dẫn (leader): cụm không nhận ghi cho đến khi bầu xong.');
    for (const m of down) {
      const t = parseTime(m.down_since);
      problems.push('Nút dẫn không liên lạc được với nút ' + m.id + (t ? ' từ ' + abs(t) : ''));
    }
    if ((c.lag || 0) >= CLUSTER_LAG_ALERT) {
      problems.push('Nút ' + c.node + ' chậm: ' + fmtInt(c.lag) + ' mục đã cam kết chưa áp dụng');
    }
    if (c.state !== 'Leader' && c.leader && c.last_contact_ms >= CLUSTER_CONTACT_ALERT_MS) {
      problems.push('Nút ' + c.node + ' không nghe nút dẫn từ ' + duration(c.last_contact_ms) + ' trước');
    }
    alert.hidden = problems.length === 0;
    alert.textContent = problems.join(' · ');
    setText($('cluster-node'), c.node || '—');
    setText($('cluster-state'), CLUSTER_STATE[c.state] || c.state || '—');
    setText($('cluster-leader'), c.leader ? c.leader + (c.leader_grpc ? ' — ' + c.leader_grpc : '') : 'chưa có');
    $('cluster-leader').classList.toggle('bad', !c.leader);
    const lag = $('cluster-lag');
    setText(lag, fmtInt(c.lag) + ' mục');
    lag.title = 'Đã cam kết ' + fmtInt(c.commit_index) + ', đã áp dụng ' + fmtInt(c.applied_index);
    lag.classList.toggle('warn', (c.lag || 0) > 0);
    const contact = $('cluster-contact');
    const ms = c.last_contact_ms;
    setText(contact, c.state === 'Leader' ? 'là nút dẫn' : ms < 0 ? 'chưa bao giờ' : ms < 1000 ? fmtInt(ms) + ' ms trước' : duration(ms) + ' trước');
    contact.classList.toggle('bad', c.state !== 'Leader' && (ms < 0 || ms >= 5000));
    const rows = members.map((m) => {
      const tr = el('tr', m.down ? 'down' : '');
      tr.dataset.id = m.id;
      const role = m.leader ? 'nút dẫn' : m.voter ? 'bỏ phiếu' : 'không bỏ phiếu';
      const health = el('td', 'health ' + (m.down ? 'down' : c.state === 'Leader' ? 'ok' : ''),
        m.down ? 'không liên lạc được' : c.state === 'Leader' ? 'liên lạc tốt' : '—');
      if (m.down) health.title = 'Từ ' + abs(parseTime(m.down_since));
      tr.append(el('td', 'mono', m.id + (m.id === c.node ? ' (nút này)' : '')), el('td', 'mono', m.grpc || '—'), el('td', 'mono', m.raft), el('td', '', role), health);
      return tr;
    });
    $('cluster-members').tBodies[0].replaceChildren(...rows);
  }

  // ---------- chart ----------

  const SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function niceStep(max) {
    const raw = max / 4;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return Math.max(1, m * p);
    return Math.max(1, 10 * p);
  }

  let chartKey = null;

  function renderChart() {
    const s = state.snap;
    const box = $('chart');
    const pm = (s && s.per_minute) || [];
    const W = Math.max(200, box.clientWidth - 16);
    const H = Math.max(120, box.clientHeight - 10);
    // Redraw only on a change, so a tooltip under the mouse stays put.
    const key = W + 'x' + H + JSON.stringify(pm);
    if (key === chartKey) return;
    chartKey = key;
    const L = 40, R = 8, T = 8, B = 22;
    const pw = W - L - R, ph = H - T - B;
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H });
    root.append(svg('title', {}, 'Văn bản mỗi phút trong 60 phút qua'));
    const n = pm.length || 60;
    let max = 0;
    for (const m of pm) max = Math.max(max, m.sent || 0, m.delivered || 0);
    const step = niceStep(Math.max(max, 4));
    const top = Math.max(4, Math.ceil(max / step) * step);
    const y = (v) => T + ph - (v / top) * ph;
    for (let v = 0; v <= top; v += step) {
      root.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      root.append(svg('text', { class: 'axis-label', x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmtInt(v)));
    }
    const slot = pw / n;
    const bw = Math.max(1, slot * 0.7);
    const pts = [];
    pm.forEach((m, i) => {
      const x = L + i * slot;
      const t = parseTime(m.minute);
      if (m.sent > 0) {
        root.append(svg('rect', { class: 'bar', x: x + (slot - bw) / 2, y: y(m.sent), width: bw, height: Math.max(1, T + ph - y(m.sent)) }));
      }
      pts.push(`${(x + slot / 2).toFixed(1)},${y(m.delivered || 0).toFixed(1)}`);
      if (t && new Date(t).getMinutes() % 10 === 0 && i >= 3) { // not on top of the y labels
        root.append(svg('line', { class: 'grid', x1: x + slot / 2, x2: x + slot / 2, y1: T + ph, y2: T + ph + 4 }));
        root.append(svg('text', { class: 'axis-label', x: x + slot / 2, y: H - 6, 'text-anchor': 'middle' }, hmFmt.format(new Date(t))));
      }
      const hit = svg('rect', { class: 'hit', x, y: T, width: slot, height: ph });
      hit.append(svg('title', {}, (t ? hmFmt.format(new Date(t)) : '') + ' — gửi ' + fmtInt(m.sent) + ', đã chuyển ' + fmtInt(m.delivered)));
      root.append(hit);
    });
    if (pts.length) root.append(svg('polyline', { class: 'line', points: pts.join(' ') }));
    if (max === 0) {
      root.append(svg('text', { class: 'zero', x: L + pw / 2, y: T + ph / 2, 'text-anchor': 'middle' }, 'Chưa có văn bản trong 60 phút qua'));
    }
    box.replaceChildren(root);
  }

  // ---------- drill-down ----------

  // focus is the document the drill-down opens on: the agency's oldest
  // stuck document, if any.
  const dd = { code: null, focus: '', ctrl: null, sig: '', back: null };
  const panel = $('drilldown');

  function agencyLabel(code) {
    const r = state.rows.get(code);
    return r && r.a ? code + ' — ' + r.a.name : code;
  }

  function rowSig(code) {
    const r = state.rows.get(code);
    return r && r.a ? [r.a.sent_today, r.a.received_today, r.a.pending].join('/') : '';
  }

  function openDrill(code, from) {
    if (dd.code) {
      const old = state.rows.get(dd.code);
      if (old && old.dom) old.dom.tr.classList.remove('selected');
    }
    dd.code = code;
    const row = state.rows.get(code);
    dd.focus = (row && row.a && row.a.oldest_pending_document) || '';
    dd.sig = rowSig(code);
    setHash(code);
    dd.back = from || document.activeElement;
    const r = state.rows.get(code);
    if (r && r.dom) r.dom.tr.classList.add('selected');
    $('drilldown-agency').textContent = agencyLabel(code);
    $('drilldown-body').replaceChildren(el('p', 'muted', 'Đang tải…'));
    panel.hidden = false;
    $('drilldown-close').focus();
    loadDrill(true);
  }

  function closeDrill() {
    if (panel.hidden) return;
    panel.hidden = true;
    if (dd.ctrl) dd.ctrl.abort();
    const r = state.rows.get(dd.code);
    if (r && r.dom) r.dom.tr.classList.remove('selected');
    dd.code = null;
    dd.focus = '';
    setHash('');
    if (dd.back && document.contains(dd.back)) dd.back.focus();
    dd.back = null;
  }

  // loadDrill fetches the drill-down's documents; first is true when it
  // opens (it then scrolls to the document it opens on).
  async function loadDrill(first) {
    const code = dd.code;
    if (dd.ctrl) dd.ctrl.abort();
    const ctrl = new AbortController();
    dd.ctrl = ctrl;
    const body = $('drilldown-body');
    try {
      const res = await fetch('/api/agencies/' + encodeURIComponent(code) + '/documents?n=20' +
        (dd.focus ? '&doc=' + encodeURIComponent(dd.focus) : ''),
        { signal: ctrl.signal, cache: 'no-store', headers: { Accept: 'application/json' } });
      if (!res.ok) {
        const msg = (await res.text()).trim();
        throw new Error('HTTP ' + res.status + (msg ? ': ' + msg : ''));
      }
      const docs = await res.json();
      if (dd.code !== code) return;
      renderDocs(code, docs || [], first);
    } catch (err) {
      if (ctrl.signal.aborted || dd.code !== code) return;
      body.replaceChildren(el('p', 'error', 'Không tải được danh sách văn bản: ' + err.message));
    }
  }

  // statusCell shows a recipient's status in Vietnamese only, and the
  // failures its system reported while the document waits.
  function statusCell(rc) {
    const code = rc.status || '';
    const [vi, cls] = STATUS[code] || [rc.status_text || code, 'progress'];
    const td = el('td');
    td.append(el('span', 'st ' + cls, (code ? code + ' · ' : '') + vi));
    td.title = (code ? code + ' · ' : '') + vi;
    if (rc.failures > 0) {
      const f = el('span', 'st refused fail', 'báo lỗi ' + fmtInt(rc.failures) + ' lần');
      f.title = 'Hệ thống bên nhận báo không nhận được văn bản ' + fmtInt(rc.failures) + ' lần; văn bản vẫn chờ';
      td.append(' ', f);
      td.title += ' · ' + f.title;
    }
    return td;
  }

  function renderDocs(code, docs, first) {
    const body = $('drilldown-body');
    if (docs.length === 0) {
      body.replaceChildren(el('p', 'empty', 'Chưa có văn bản gửi hoặc nhận.'));
      return;
    }
    const frag = document.createDocumentFragment();
    const recent = docs.filter((d) => !d.focus).length;
    frag.append(el('p', 'muted', fmtInt(recent) + ' văn bản gần nhất, mới nhất trước' +
      (recent < docs.length ? ', sau văn bản chờ lâu nhất.' : '.')));
    let focused = null;
    for (const d of docs) {
      const box = el('article', d.focus ? 'doc focus' : 'doc');
      box.dataset.id = d.id;
      if (d.focus) {
        focused = box;
        box.tabIndex = -1;
        box.append(el('div', 'focus-label', 'Văn bản chờ lâu nhất'));
      }
      const top = el('div', 'doc-top');
      top.append(el('span', 'doc-id mono', d.id), el('span', 'dir', d.sender === code ? 'gửi đi' : 'nhận về'));
      box.append(top);
      const subj = el('div', 'subject', d.subject || '(không có trích yếu)');
      if (d.recalled) subj.append(el('span', 'recalled', 'đã thu hồi'));
      box.append(subj);
      const created = parseTime(d.created);
      box.append(el('div', 'meta', 'Từ: ' + d.sender + (d.sender_name ? ' — ' + d.sender_name : '') +
        ' · tạo lúc ' + abs(created)));
      if (d.reference) {
        const ref = el('div', 'meta');
        ref.append(document.createTextNode('Mã văn bản: '), el('span', 'mono', d.reference));
        box.append(ref);
      }
      const t = el('table');
      const cg = el('colgroup');
      cg.append(el('col', 'r-code'), el('col', 'r-name'), el('col', 'r-status'), el('col', 'r-recall'));
      const head = el('tr');
      head.append(el('th', '', 'Nơi nhận'), el('th', '', 'Tên'), el('th', '', 'Trạng thái'), el('th', '', 'Thu hồi'));
      const thead = el('thead');
      thead.append(head);
      const tb = el('tbody');
      for (const rc of d.recipients || []) {
        const tr = el('tr');
        tr.dataset.recipient = rc.code;
        const name = el('td', '', rc.name || '');
        name.title = rc.name || '';
        const delivered = parseTime(rc.delivered);
        if (delivered) name.title += ' · đã nhận lúc ' + abs(delivered);
        const recall = el('td', '', rc.recall ? (RECALL[rc.recall] ? (/^\d+$/.test(rc.recall) ? rc.recall + ' · ' : '') + RECALL[rc.recall] : rc.recall) : '—');
        tr.append(el('td', 'mono', rc.code), name, statusCell(rc), recall);
        tb.append(tr);
      }
      t.append(cg, thead, tb);
      box.append(t);
      frag.append(box);
    }
    const top = body.scrollTop;
    body.replaceChildren(frag);
    if (focused && first) focused.scrollIntoView({ block: 'start' });
    else body.scrollTop = top; // a reload keeps the reader's place
  }

  // ---------- address ----------

  // The open drill-down is in the address (#agency=CODE), so a stuck
  // agency can be linked and the page reopens on it.
  function hashCode() {
    const m = /^#agency=([^&]+)/.exec(location.hash);
    if (!m) return '';
    try {
      return decodeURIComponent(m[1]);
    } catch {
      return '';
    }
  }

  function setHash(code) {
    if (hashCode() === code) return;
    const url = location.pathname + location.search + (code ? '#agency=' + encodeURIComponent(code) : '');
    history.replaceState(null, '', url);
  }

  // followHash opens (or closes) the drill-down the address names, once
  // the agency is known from a snapshot.
  function followHash() {
    const code = hashCode();
    if (!code) {
      closeDrill();
      return;
    }
    if (code === dd.code || !state.rows.has(code)) return;
    openDrill(code, null);
  }

  // ---------- snapshot ----------

  let drillReloadAt = 0;

  // render shows a whole snapshot, or with d a delta already merged into
  // s (whose agency lines are then d's).
  function render(s, d) {
    if (!s || typeof s !== 'object') return;
    const t = parseTime(s.time);
    if (t) {
      if (t < state.lastTime) return; // an older snapshot arriving late
      state.lastTime = t;
      skew = t - Date.now();
    }
    state.snap = s;
    const t0 = performance.now();
    renderTiles(s);
    const alerted = new Set((s.alerts || []).map((al) => al.agency));
    const alertedMoved = alerted.size !== state.alerted.size || [...alerted].some((c) => !state.alerted.has(c));
    state.alerted = alerted;
    if (d) renderRowsDelta(d.agencies, d.removed, alertedMoved && state.sortKey === 'attention');
    else renderRows(s.agencies, alertedMoved && state.sortKey === 'attention');
    const t1 = performance.now();
    renderAlerts(s.alerts);
    renderCluster(s.cluster);
    renderChart();
    // Visible in the browser's performance tools (and read by the tests);
    // cleared each time so the timeline does not grow for days.
    performance.clearMeasures('ndxp rows');
    performance.clearMeasures('ndxp render');
    performance.measure('ndxp rows', { start: t0, end: t1 });
    performance.measure('ndxp render', { start: t0 });
    setText($('updated'), t ? 'Cập nhật lúc ' + hmsFmt.format(new Date(t)) : '');
    if (!dd.code && hashCode()) followHash();
    if (dd.code) {
      $('drilldown-agency').textContent = agencyLabel(dd.code);
      const sig = rowSig(dd.code);
      if (sig !== dd.sig && Date.now() - drillReloadAt > 1000) {
        dd.sig = sig;
        const row = state.rows.get(dd.code);
        dd.focus = (row && row.a && row.a.oldest_pending_document) || '';
        drillReloadAt = Date.now();
        loadDrill();
      }
    }
  }

  // refreshRelative keeps "2 phút trước" true between snapshots.
  function refreshRelative() {
    renderOldest();
    for (const r of state.order) if (r.a && r.dom && !(r.a.online && r.a.via !== 'polling')) setText(r.dom.seen, seenText(r.a, r));
    for (const [e, t] of alertTimes) setText(e, ago(t));
  }

  // ---------- live connection ----------

  let es = null;
  let lastEvent = 0;
  // streamed: the stream has sent a whole picture, so a slower answer to
  // the first fetch must not replace it: the deltas that follow apply to
  // the stream's picture, and would never undo what the fetch put back.
  let streamed = false;
  let retry = 0;

  function setLive(ok) {
    const live = $('live');
    live.className = 'live ' + (ok ? 'ok' : 'down');
    setText(live.querySelector('.live-text'), ok ? LIVE_OK : LIVE_DOWN);
  }

  function connect() {
    clearTimeout(retry);
    if (es) es.close();
    es = new EventSource('/api/events');
    es.addEventListener('open', () => setLive(true));
    // A delta applies to the stream's previous event: until this
    // connection (or the browser's own reconnection) has sent the whole
    // picture, there is nothing to apply it to.
    let whole = false;
    es.addEventListener('open', () => { whole = false; });
    es.addEventListener('snapshot', (ev) => {
      lastEvent = Date.now();
      setLive(true);
      let s;
      try {
        s = JSON.parse(ev.data);
      } catch {
        return;
      }
      whole = true;
      streamed = true;
      render(s);
    });
    es.addEventListener('delta', (ev) => {
      lastEvent = Date.now();
      setLive(true);
      let d;
      try {
        d = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!whole || !state.snap || !d || typeof d !== 'object') return;
      // The rows hold the agency lines; the snapshot keeps the rest.
      const s = Object.assign({}, state.snap, d.set || {});
      delete s.agencies;
      render(s, d);
    });
    es.addEventListener('error', () => {
      setLive(false);
      // EventSource retries by itself after a network error, but gives up
      // for good on an HTTP error status: then start over ourselves.
      if (es.readyState === EventSource.CLOSED) retry = setTimeout(connect, 5000);
    });
  }

  // The hub pushes at least every 5 s; a silent stream is a dead one
  // (a proxy may hold it open), so reconnect.
  setInterval(() => {
    if (es && es.readyState === EventSource.OPEN && lastEvent && Date.now() - lastEvent > 20000) {
      setLive(false);
      lastEvent = 0;
      connect();
    }
  }, 5000);

  // ---------- wiring ----------

  $('search').addEventListener('input', (e) => {
    state.q = lower(e.target.value);
    state.qFolded = fold(state.q);
    applyNewView();
  });
  $('filter-stage').addEventListener('change', (e) => { state.stage = e.target.value; applyNewView(); });
  $('filter-online').addEventListener('change', (e) => { state.online = e.target.value; applyNewView(); });
  $('more-rows').addEventListener('click', () => {
    state.limit += PAGE_ROWS;
    applyView();
  });
  for (const th of document.querySelectorAll('#agencies th[data-sort]')) {
    th.querySelector('button').addEventListener('click', () => setSort(th.dataset.sort));
  }
  tbody.addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-code]');
    if (tr) openDrill(tr.dataset.code, tr);
  });
  tbody.addEventListener('keydown', (e) => {
    const tr = e.target.closest('tr[data-code]');
    if (tr && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      openDrill(tr.dataset.code, tr);
    }
  });
  $('alerts').addEventListener('click', (e) => {
    const li = e.target.closest('li[data-code]');
    if (li) openDrill(li.dataset.code, li);
  });
  $('alerts').addEventListener('keydown', (e) => {
    const li = e.target.closest('li[data-code]');
    if (li && e.key === 'Enter') openDrill(li.dataset.code, li);
  });
  $('drilldown-close').addEventListener('click', closeDrill);
  window.addEventListener('hashchange', followHash);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !panel.hidden) {
      e.preventDefault();
      closeDrill();
    } else if (e.key === '/' && document.activeElement === document.body) {
      e.preventDefault();
      $('search').focus();
    }
  });
  if (window.ResizeObserver) {
    let w = 0;
    new ResizeObserver(() => {
      const nw = $('chart').clientWidth;
      if (nw !== w) {
        w = nw;
        if (state.snap) renderChart();
      }
    }).observe($('chart'));
  }

  setInterval(refreshRelative, 5000);
  connect();
  // The first event usually wins, but fetch too so the page fills even when
  // a proxy buffers the stream.
  fetch('/api/snapshot', { cache: 'no-store', headers: { Accept: 'application/json' } })
    .then((res) => (res.ok ? res.json() : null))
    .then((s) => { if (s && !streamed) render(s); })
    .catch(() => {});
})();
