// The zt-infra console: reads the console's JSON routes (same origin, the token in an HttpOnly cookie) and
// renders them. Every value from the log is set as text (textContent), never as HTML: an agent chooses its
// action, resource and reason, and must not be able to script the admin's page.

const POLL_TIMELINE_MS = 1500;
const POLL_OTHERS_MS = 4000;
const MAX_ROWS = 500;

const state = {
  head: 0,
  rows: 0,
  filter: null, // {kind: 'actor' | 'action', value}
  view: 'timeline',
  timelineBusy: false,
  /** Raised when the filter changes: an answer asked for under the previous filter is dropped. */
  generation: 0,
};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null) continue;
    if (name === 'className') node.className = value;
    else node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function getJson(path) {
  const res = await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

function timeText(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function decisionRow(e, fresh) {
  const shadow = e.shadow
    ? el(
        'span',
        { className: 'shadow-tag', title: `shadow policies: ${e.shadow.policy_ids.join(', ')}` },
        `would ${e.shadow.decision}`,
      )
    : '';
  const classes = [e.decision === 'allow' ? 'allow' : 'deny'];
  if (fresh) classes.push('fresh');
  return el(
    'tr',
    { className: classes.join(' '), 'data-id': e.id, 'data-decision': e.decision },
    el('td', { className: 'num' }, e.seq),
    el('td', { title: e.timestamp, className: 'nowrap' }, timeText(e.timestamp)),
    el(
      'td',
      {},
      el('span', { className: `decision ${e.decision === 'allow' ? 'allow' : 'deny'}` }, e.decision),
    ),
    el('td', {}, e.actor),
    el('td', {}, e.action),
    el('td', {}, e.resource),
    el('td', {}, e.reason),
    el('td', {}, e.policy_ids.join(', ')),
    el('td', {}, shadow),
  );
}

function timelineQuery(after, limit) {
  const q = new URLSearchParams({ after: String(after), limit: String(limit) });
  if (state.filter) q.set(state.filter.kind, state.filter.value);
  return `/api/timeline?${q}`;
}

function showEmpty() {
  document.getElementById('timeline-empty').hidden = state.rows > 0;
}

async function loadTimeline() {
  const generation = ++state.generation;
  const body = document.querySelector('#timeline tbody');
  const data = await getJson(timelineQuery(0, 100));
  if (generation !== state.generation) return;
  body.replaceChildren(...data.entries.map((e) => decisionRow(e, false)));
  state.rows = data.entries.length;
  state.head = data.head;
  showEmpty();
}

async function pollTimeline() {
  if (state.timelineBusy) return;
  state.timelineBusy = true;
  const live = document.getElementById('live');
  try {
    const generation = state.generation;
    const data = await getJson(timelineQuery(state.head, 200));
    if (generation !== state.generation) return;
    const body = document.querySelector('#timeline tbody');
    // New decisions come oldest first: each goes on top.
    for (const e of data.entries) {
      body.prepend(decisionRow(e, true));
      state.rows++;
    }
    while (body.rows.length > MAX_ROWS) body.lastElementChild.remove();
    state.rows = Math.min(state.rows, MAX_ROWS);
    const last = data.entries[data.entries.length - 1];
    // A filtered poll may stop at a bounded scan: continue from the last decision it saw, else from the head.
    state.head = data.entries.length === 200 && last ? last.seq : Math.max(state.head, data.head);
    showEmpty();
    // The counts follow the timeline at once rather than at their own next poll.
    if (data.entries.length > 0) loadTallies().catch(() => undefined);
    live.classList.remove('stale');
    live.textContent = 'live';
  } catch (error) {
    live.classList.add('stale');
    live.textContent = `not updating (${error.message})`;
  } finally {
    state.timelineBusy = false;
  }
}

function setFilter(kind, value) {
  state.filter = kind ? { kind, value } : null;
  const box = document.getElementById('filter');
  box.hidden = !state.filter;
  document.getElementById('filter-text').textContent = state.filter
    ? `${kind === 'actor' ? 'agent' : 'action'} ${value}`
    : '';
  location.hash = '#timeline';
  loadTimeline().catch(() => undefined);
}

function tallyRows(id, items, kind) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(
    ...items.map((t) => {
      const pick = el('button', { type: 'button' }, t.name);
      pick.addEventListener('click', () => setFilter(kind, t.name));
      return el(
        'tr',
        { 'data-name': t.name },
        el('td', {}, pick),
        el('td', { className: 'num' }, t.allow),
        el('td', { className: `num${t.deny > 0 ? ' deny-count' : ''}` }, t.deny),
        el('td', {}, t.last ? timeText(t.last) : 'none'),
      );
    }),
  );
}

async function loadTallies() {
  const data = await getJson('/api/tallies');
  tallyRows('agents', data.agents, 'actor');
  tallyRows('actions', data.actions, 'action');
  const allow = data.actions.reduce((n, t) => n + t.allow, 0);
  const deny = data.actions.reduce((n, t) => n + t.deny, 0);
  document.getElementById('counts').textContent =
    `${allow} allowed, ${deny} denied${data.complete ? '' : ' (still counting a long log)'}`;
}

function policyCard(p) {
  const mode =
    p.mode === 'shadow'
      ? el('span', { className: 'shadow-tag', title: 'evaluated and recorded, never decides' }, 'shadow')
      : el('span', { className: 'decision allow' }, 'enforced');
  return el(
    'article',
    { className: `policy ${p.mode}`, 'data-policy-id': p.policyId, 'data-mode': p.mode },
    el(
      'h3',
      {},
      p.policyId,
      mode,
      el(
        'span',
        { className: 'meta' },
        [p.description, `updated ${timeText(p.updatedAt)}`, `sha256 ${p.sha256.slice(0, 12)}`]
          .filter(Boolean)
          .join(' · '),
      ),
    ),
    el('pre', {}, p.cedar),
  );
}

async function loadPolicies() {
  const data = await getJson('/api/policies');
  const box = document.getElementById('policies');
  const all = [...data.enforced, ...data.shadow];
  box.replaceChildren(
    ...(all.length === 0 ? [el('p', { className: 'empty' }, 'No policies: every decision is a deny.')] : []),
    ...data.enforced.map(policyCard),
    ...(data.shadow.length > 0 ? [el('h2', {}, 'Shadow policies (not in force)')] : []),
    ...data.shadow.map(policyCard),
  );
}

const STATUS_TEXT = {
  valid: 'log verifies',
  incomplete: 'log verifies, not all of it checkpointed yet',
  tampered: 'log does NOT verify',
};

async function loadLog() {
  const data = await getJson('/api/log');
  const v = data.verification;
  const badge = document.getElementById('log-badge');
  const box = document.getElementById('verification');
  let status = v.state;
  let text = 'log: not verified yet';
  const total = data.lanes.reduce((n, l) => n + l.head, 0);
  if ((v.state === 'done' || v.state === 'running') && v.result) {
    // While a new run goes, the last finished one stays shown.
    status = v.result.status;
    // A run covers the records there were when it started: say how many, and how many came after.
    const newer = total - v.result.records;
    text = `${STATUS_TEXT[status] ?? status} (${v.result.records} records checked${newer > 0 ? `, ${newer} newer not yet` : ''})`;
    if (v.state === 'running') text += ', checking again';
  } else if (v.state === 'empty') {
    text = 'log: no record yet';
  } else if (v.state === 'running') {
    text = 'log: verifying';
  } else if (v.state === 'skipped') {
    text = 'log: too large to verify here';
  } else if (v.state === 'failed') {
    text = 'log: could not verify';
  }
  badge.className = `badge ${['valid', 'incomplete', 'tampered', 'failed'].includes(status) ? status : 'pending'}`;
  badge.dataset.status = status;
  badge.dataset.checked = String(v.result?.records ?? '');
  badge.dataset.total = String(total);
  badge.textContent = text;
  const findings = v.result?.findings ?? [];
  box.replaceChildren(
    el('p', {}, text, v.at ? ` at ${timeText(v.at)}` : ''),
    ...(v.note ? [el('p', { className: 'muted' }, v.note)] : []),
    ...findings.map((f) =>
      el(
        'p',
        { className: `finding${v.result.status === 'tampered' ? ' bad' : ''}` },
        `${f.code}${f.lane ? ` [${f.lane}]` : ''}: ${f.message}`,
      ),
    ),
  );
  document
    .querySelector('#lanes tbody')
    .replaceChildren(
      ...data.lanes.map((l) =>
        el(
          'tr',
          { 'data-lane': l.lane },
          el('td', {}, l.lane),
          el('td', { className: 'num' }, l.head),
          el('td', { className: 'num' }, l.checkpoint ? l.checkpoint.size : 'none'),
          el('td', {}, l.checkpoint?.time ? timeText(l.checkpoint.time) : ''),
          el('td', { className: 'num' }, l.head - (l.checkpoint ? l.checkpoint.size : 0)),
        ),
      ),
    );
  document.getElementById('epoch').textContent = data.epoch
    ? `Newest epoch: ${data.epoch.epoch}, signed ${timeText(data.epoch.time)}, naming ${data.epoch.lanes} lane(s).`
    : 'No epoch signed yet.';
}

const approvals = { approver: null, busy: false };

function approvalCard(a) {
  const canVote = approvals.approver !== null;
  const button = (verdict, label) => {
    const b = el(
      'button',
      {
        type: 'button',
        className: `vote ${verdict}`,
        'data-verdict': verdict,
        title: canVote
          ? `${label} as ${approvals.approver.profile} (params sha256 ${a.params_sha256})`
          : 'start zt-local with --console-approver NAME to approve or reject here',
      },
      label,
    );
    if (!canVote) b.disabled = true;
    else b.addEventListener('click', () => vote(a, verdict));
    return b;
  };
  return el(
    'article',
    { className: 'approval', 'data-approval-id': a.approval_id },
    el(
      'h3',
      {},
      a.action,
      el('span', { className: 'meta' }, `agent ${a.agent} · resource ${a.resource}`),
      el(
        'span',
        { className: 'need', 'data-given': a.approvals_given, 'data-required': a.approvals_required },
        `${a.approvals_given} of ${a.approvals_required} approvals`,
      ),
    ),
    el(
      'p',
      { className: 'meta' },
      `requested ${timeText(a.requested_at)} · expires ${timeText(a.expires_at)} · policies ${a.policy_ids.join(', ')}`,
    ),
    el('pre', { className: 'params' }, JSON.stringify(a.params, null, 2)),
    el('p', { className: 'meta digest' }, `params sha256 ${a.params_sha256}`),
    ...(a.approved_by.length > 0
      ? [el('p', { className: 'meta' }, `approved by ${a.approved_by.join(', ')}`)]
      : []),
    el('div', { className: 'actions' }, button('approve', 'Approve'), button('reject', 'Reject')),
  );
}

async function vote(a, verdict) {
  if (approvals.busy) return;
  approvals.busy = true;
  const result = document.getElementById('approval-result');
  try {
    // Same origin, the token in the cookie, and the header a cross-site form cannot send; the verdict names
    // the digest of the params shown, so it counts only for exactly this request.
    const res = await fetch(`/api/approvals/${encodeURIComponent(a.approval_id)}/${verdict}`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-zt-console': '1', accept: 'application/json' },
      body: JSON.stringify({ params_sha256: a.params_sha256 }),
    });
    const body = await res.json().catch(() => ({}));
    result.hidden = false;
    if (res.ok) {
      result.className = 'result ok';
      result.dataset.code = 'OK';
      result.textContent = `${verdict === 'approve' ? 'Approved' : 'Rejected'} ${a.action} for ${a.agent} as ${approvals.approver?.profile ?? ''} (record ${body.record?.id ?? ''})`;
    } else {
      result.className = 'result bad';
      result.dataset.code = body.error?.code ?? String(res.status);
      result.textContent = `${body.error?.code ?? `HTTP ${res.status}`}: ${body.error?.message ?? ''}`;
    }
  } catch (error) {
    result.hidden = false;
    result.className = 'result bad';
    result.textContent = `could not send the verdict (${error.message})`;
  } finally {
    approvals.busy = false;
  }
  loadApprovals().catch(() => undefined);
}

async function loadApprovals() {
  const data = await getJson('/api/approvals');
  approvals.approver = data.approver;
  const mode = document.getElementById('mode');
  const who = document.getElementById('approver');
  if (data.approver) {
    mode.textContent = `approver: ${data.approver.name}`;
    mode.title =
      'This page reads, and approves or rejects approvals as this approver; it changes nothing else';
    who.textContent = `Approving as ${data.approver.profile} (${data.approver.principal_arn}). Each verdict is a chained approval record bound to this principal and to the params digest shown.`;
  } else {
    mode.textContent = 'read-only';
    who.textContent =
      'Read-only: to approve or reject here, start zt-local with --console-approver NAME (or ZT_CONSOLE_APPROVER), NAME one of ZT_APPROVERS. Meanwhile: zt approvals approve|reject ID --params-sha256 DIGEST --profile zt-approver-NAME.';
  }
  const count = document.getElementById('approvals-count');
  count.hidden = data.approvals.length === 0;
  count.textContent = String(data.approvals.length);
  document.getElementById('approvals-empty').hidden = data.approvals.length > 0;
  document.getElementById('approvals').replaceChildren(...data.approvals.map(approvalCard));
}

function showView() {
  const name = (location.hash || '#timeline').slice(1);
  state.view = document.getElementById(`view-${name}`) ? name : 'timeline';
  for (const section of document.querySelectorAll('.view')) {
    section.hidden = section.id !== `view-${state.view}`;
  }
  for (const link of document.querySelectorAll('nav a')) {
    link.classList.toggle('active', link.dataset.view === state.view);
  }
}

function every(ms, task) {
  const run = () =>
    task()
      .catch(() => undefined)
      .finally(() => setTimeout(run, ms));
  run();
}

function start() {
  window.addEventListener('hashchange', showView);
  showView();
  document.getElementById('filter-clear').addEventListener('click', () => setFilter(null));
  document.getElementById('footer').textContent =
    'View of the local emulator. Decisions appear as they are made; nothing here writes but an approve or reject, and only with --console-approver.';
  loadTimeline()
    .catch(() => undefined)
    .finally(() => every(POLL_TIMELINE_MS, pollTimeline));
  every(POLL_OTHERS_MS, loadTallies);
  every(POLL_OTHERS_MS, loadPolicies);
  every(POLL_OTHERS_MS, loadLog);
  every(POLL_OTHERS_MS, loadApprovals);
}

start();
