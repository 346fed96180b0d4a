// The dashboard's only script: no framework, no build. The daemon renders (and escapes) every section;
// this swaps them in from /api/events, keeps clocks ticking, and sends actions. The token, when the
// daemon needs one, lives in sessionStorage and travels only in the Authorization header.
const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "claude-failover-token";
const SECTIONS = ["dispatch", "sessions", "accounts", "queue", "swaps", "events", "delegation"];
let live = false;
let pollTimer;
let screenTimer;

function headers(extra = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return { "x-cf-origin": "dashboard", ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra };
}

class Unauthorized extends Error {}

async function api(path, body) {
  const init = body === undefined ? { headers: headers() } : { method: "POST", headers: headers({ "content-type": "application/json" }), body: JSON.stringify(body) };
  const res = await fetch(path, init);
  if (res.status === 401) throw new Unauthorized();
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error ?? `HTTP ${res.status}`);
  return data;
}

function setConn(text) {
  $("conn").textContent = text;
  document.body.dataset.conn = live ? "live" : "down";
}

function askToken() {
  setConn("waiting for the API token");
  $("token").hidden = false;
  $("token-input").focus();
}

// What each section last got from the daemon (the clocks rewrite the live DOM every second).
const applied = new Map();

// A control is found again after its section is redrawn by what it acts on, not by its node.
function keyOf(el) {
  if (!el || !el.dataset || !el.dataset.action) return undefined;
  const { action, project = "", id = "", session = "", account = "" } = el.dataset;
  return `[data-action="${action}"][data-project="${CSS.escape(project)}"][data-id="${CSS.escape(id)}"][data-session="${CSS.escape(session)}"][data-account="${CSS.escape(account)}"]`
    .replace(/\[data-[a-z]+=""\]/g, "");
}

function apply(sections) {
  for (const id of SECTIONS) {
    const el = $(id);
    const html = sections[id];
    if (!el || typeof html !== "string" || applied.get(id) === html) continue;
    const focused = el.contains(document.activeElement) ? keyOf(document.activeElement) : undefined;
    el.innerHTML = html;
    applied.set(id, html);
    // Keyboard users keep their place when a redraw replaces the control they are on.
    if (focused) el.querySelector(focused)?.focus();
  }
  const select = $("submit-project");
  const projects = [...document.querySelectorAll("#queue .project h3")].map((h) => h.firstChild.textContent.trim());
  if (select.options.length !== projects.length || projects.some((p, i) => select.options[i].value !== p)) {
    select.replaceChildren(...projects.map((p) => new Option(p, p)));
  }
  tick();
}

function fmt(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

function tick() {
  const now = Date.now();
  for (const t of document.querySelectorAll("time[data-since]")) t.textContent = `for ${fmt(now - Date.parse(t.dataset.since))}`;
  for (const t of document.querySelectorAll("time[data-ago]")) t.textContent = `${fmt(now - Date.parse(t.dataset.ago))} ago`;
  for (const t of document.querySelectorAll("time[data-until]")) {
    const left = Date.parse(t.dataset.until) - now;
    t.textContent = left > 0 ? `in ${fmt(left)}` : "now";
  }
}

// Server-sent events read through fetch: EventSource cannot send the Authorization header.
async function stream() {
  const res = await fetch("/api/events", { headers: headers(), cache: "no-store" });
  if (res.status === 401) throw new Unauthorized();
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
  live = true;
  stopPolling();
  setConn("live");
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let name = "message";
      let data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (name === "view") apply(JSON.parse(data));
    }
  }
}

async function poll() {
  try {
    apply((await api("/api/dashboard")).sections);
    setConn("reconnecting… (showing polled data)");
  } catch (err) {
    if (err instanceof Unauthorized) return askToken();
    setConn("daemon unreachable; retrying");
  }
}

function startPolling() {
  if (pollTimer === undefined) pollTimer = setInterval(poll, 3000);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = undefined;
}

async function connect() {
  let delay = 500;
  for (;;) {
    try {
      await stream();
      delay = 500;
    } catch (err) {
      if (err instanceof Unauthorized) {
        live = false;
        return askToken();
      }
    }
    live = false;
    setConn("reconnecting…");
    startPolling();
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 5000);
  }
}

function notice(text) {
  $("notice").textContent = text;
}

async function act(path, body, done) {
  try {
    const r = await api(path, body);
    notice(done(r));
  } catch (err) {
    if (err instanceof Unauthorized) return askToken();
    notice(`Failed: ${err.message}`);
  }
}

let opener;

async function showDetail(path, refresh) {
  opener = keyOf(document.activeElement);
  clearInterval(screenTimer);
  screenTimer = undefined;
  const load = async () => {
    try {
      $("detail").innerHTML = (await api(path)).html;
    } catch (err) {
      if (err instanceof Unauthorized) return askToken();
      $("detail").textContent = `Could not load: ${err.message}`;
    }
  };
  await load();
  $("detail-box").hidden = false;
  $("detail-close").focus();
  if (refresh) screenTimer = setInterval(load, 2000);
}

function closeDetail() {
  clearInterval(screenTimer);
  screenTimer = undefined;
  $("detail-box").hidden = true;
  $("detail").replaceChildren();
  if (opener) document.querySelector(`main ${opener}`)?.focus();
}

document.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-action]");
  if (!b) return;
  const { project, id, account, session } = b.dataset;
  const q = (o) => new URLSearchParams(o).toString();
  switch (b.dataset.action) {
    case "retry": return act("/api/tasks/retry", { project, id }, (r) => `Retrying ${project}/${r.id ?? id}.`);
    case "cancel": return act("/api/tasks/cancel", { project, id }, () => `Cancelled ${project}/${id}.`);
    case "swap": return act("/api/swap", { to: account }, (r) => `Swapped ${r.from} → ${r.to}.`);
    case "pause": return act("/api/dispatch", { paused: true }, () => "Dispatch paused.");
    case "resume": return act("/api/dispatch", { paused: false }, () => "Dispatch resumed.");
    case "task": return showDetail(`/api/task?${q({ project, id })}`, false);
    case "screen": return showDetail(`/api/sessions/screen?${q({ name: session })}`, true);
  }
});

$("detail-close").addEventListener("click", closeDetail);
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && !$("detail-box").hidden) closeDetail();
});

$("submit").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const project = $("submit-project").value;
  const text = $("submit-text").value;
  void act("/api/tasks", { project, text }, (r) => {
    $("submit-text").value = "";
    $("submit-box").open = false;
    return `Submitted ${project}/${r.id}.`;
  });
});

$("token").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token-input").value);
  $("token-input").value = "";
  $("token").hidden = true;
  void connect();
});

setInterval(tick, 1000);
void connect();
