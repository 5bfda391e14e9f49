// rcache dashboard: plain JS, no build step. It reads the cluster from the node that served
// it, and sends key operations and cluster changes to the leader (whose HTTP address
// /v1/cluster gives), so a page opened on a follower still works.
"use strict";

const PASSWORD_KEY = "rcache-password";
const REFRESH_MS = 2000;
const SAMPLES = 90;
const $ = (id) => document.getElementById(id);
const state = { cluster: null, leaderBase: null, keysNext: null, selected: null,
                samples: [], passwordPrompt: null };

class ApiError extends Error {}
class LeaderMoved extends ApiError {}

function authHeaders() {
  const password = sessionStorage.getItem(PASSWORD_KEY);
  return password ? { Authorization: "Bearer " + password } : {};
}

function askPassword() {
  if (!state.passwordPrompt) {
    state.passwordPrompt = new Promise((resolve) => {
      const dialog = $("login");
      $("login-form").onsubmit = (event) => {
        event.preventDefault();
        sessionStorage.setItem(PASSWORD_KEY, $("password").value);
        dialog.close();
        state.passwordPrompt = null;
        resolve();
      };
      dialog.showModal();
    });
  }
  return state.passwordPrompt;
}

async function call(base, path, options = {}) {
  const response = await fetch(base + path, {
    ...options, redirect: "manual",
    headers: { ...authHeaders(), ...(options.headers || {}) },
  });
  if (response.status === 401) {
    await askPassword();
    return call(base, path, options);
  }
  if (response.type === "opaqueredirect" || response.status === 307) {
    throw new LeaderMoved("the leader changed");
  }
  const isJson = (response.headers.get("Content-Type") || "").includes("json");
  const body = isJson ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError((body && body.error) || response.statusText);
  return body;
}

// The leader's answer; if leadership moved since the last refresh (a 307), once more at the
// new leader (the old one did nothing with the request).
async function leader(path, options) {
  for (let attempt = 0; ; attempt++) {
    if (state.leaderBase === null) throw new ApiError("no leader: the cluster cannot serve now");
    try {
      return await call(state.leaderBase, path, options);
    } catch (error) {
      if (!(error instanceof LeaderMoved) || attempt > 0) throw error;
      await refreshCluster();
    }
  }
}

function toast(message, isError = false) {
  const box = $("toast");
  box.textContent = message;
  box.className = isError ? "error" : "";
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

function confirmAction(message) {
  return new Promise((resolve) => {
    const dialog = $("confirm");
    $("confirm-text").textContent = message;
    const finish = (answer) => { dialog.close(); resolve(answer); };
    $("confirm-ok").onclick = () => finish(true);
    $("confirm-cancel").onclick = () => finish(false);
    dialog.showModal();
  });
}

async function guarded(action) {
  try {
    await action();
  } catch (error) {
    toast(error.message, true);
  }
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (className) td.className = className;
  return td;
}

// -- cluster -------------------------------------------------------------------------------
async function refreshCluster() {
  let cluster;
  try {
    cluster = await call("", "/v1/cluster");
  } catch (error) {
    $("status").textContent = "cannot reach this node: " + error.message;
    return;
  }
  state.cluster = cluster;
  state.leaderBase = cluster.role === "leader" ? "" : cluster.leader_http;
  $("status").textContent = "term " + cluster.term + ", updated " +
    new Date().toLocaleTimeString();
  $("node-name").textContent = "node " + cluster.node;
  const role = $("node-role");
  role.textContent = cluster.role;
  role.className = "badge " + cluster.role;
  const banner = $("follower-banner");
  banner.hidden = cluster.role === "leader";
  if (!cluster.leader) {
    banner.textContent = "No leader: this cluster cannot take writes now.";
  } else if (cluster.role !== "leader") {
    banner.textContent = "This node (" + cluster.node + ") is not the leader. Writes and " +
      "reads go to the leader, " + cluster.leader + ", at " +
      (cluster.leader_http || "(its HTTP port is unknown)") + ".";
  }
  renderMembers(cluster);
}

function renderMembers(cluster) {
  const body = $("members").tBodies[0];
  body.replaceChildren();
  for (const member of cluster.members) {
    const row = body.insertRow();
    row.dataset.id = member.id;
    cell(row, member.id);
    // a learner receives the log but does not vote (nor lead) until promoted
    const shown = member.learner && member.role === "follower" ? "learner" : member.role;
    const role = cell(row, member.reachable ? shown : "unreachable");
    role.className = "role";
    cell(row, member.client);
    const link = row.insertCell();
    if (member.http) {
      const a = document.createElement("a");
      a.href = member.http + "/";
      a.textContent = member.http.replace("http://", "");
      link.append(a);
    }
    cell(row, member.term);
    cell(row, member.commit_index);
    cell(row, member.applied_index);
    cell(row, member.lag);
    const healthy = member.reachable && member.healthy;
    cell(row, healthy ? "healthy" : member.reachable ? "catching up / no leader" : "down",
         healthy ? "healthy" : "unhealthy");
    const actions = row.insertCell();
    if (member.role === "follower" && !member.learner) {
      actions.append(button("Make leader", () => transferLeader(member.id)));
    }
    actions.append(button("Remove", () => removeMember(member.id), "danger"));
  }
}

function button(label, onClick, className) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (className) b.className = className;
  b.onclick = () => guarded(onClick);
  return b;
}

async function transferLeader(id) {
  const target = id ? "to " + id : "to the most up-to-date follower";
  if (!await confirmAction("Transfer leadership " + target + "?")) return;
  const reply = await leader("/v1/cluster/transfer-leader", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(id ? { id } : {}),
  });
  toast("leader is now " + reply.leader);
  await refreshCluster();
}

async function removeMember(id) {
  if (!await confirmAction("Remove " + id + " from the cluster? It will shut down.")) return;
  await leader("/v1/cluster/members/" + encodeURIComponent(id), { method: "DELETE" });
  toast(id + " removed");
  await refreshCluster();
}

async function addMember(event) {
  event.preventDefault();
  const address = $("add-member-address").value.trim();
  if (!await confirmAction("Ask the node at " + address + " to join this cluster?")) return;
  toast("joining " + address + "...");
  await leader("/v1/cluster/members", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ address }),
  });
  toast(address + " joined");
  $("add-member-address").value = "";
  await refreshCluster();
}

// -- rates ---------------------------------------------------------------------------------
function metric(text, name) {
  const match = text.match(new RegExp("^" + name + " (\\S+)$", "m"));
  return match ? Number(match[1]) : null;
}

async function sampleRates() {
  if (state.leaderBase === null) return;
  const text = await leader("/metrics");
  const sample = { t: performance.now() / 1000, leader: state.cluster.leader,
                   commands: metric(text, "rcache_commands_processed_total"),
                   writes: metric(text, "rcache_write_commands_total") };
  const last = state.samples[state.samples.length - 1];
  if (last && last.leader !== sample.leader) state.samples = [];  // other counters
  state.samples.push(sample);
  if (state.samples.length > SAMPLES + 1) state.samples.shift();
  drawRates();
}

function rates() {
  const points = [];
  for (let i = 1; i < state.samples.length; i++) {
    const a = state.samples[i - 1], b = state.samples[i];
    const dt = b.t - a.t;
    const writes = Math.max(0, b.writes - a.writes) / dt;
    const commands = Math.max(0, b.commands - a.commands) / dt;
    points.push({ writes, others: Math.max(0, commands - writes) });
  }
  return points;
}

function drawRates() {
  const canvas = $("rates");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  const points = rates();
  const top = Math.max(1, ...points.map((p) => Math.max(p.writes, p.others))) * 1.15;
  const left = 48, bottom = height - 18;
  g.strokeStyle = "#e3e6ec";
  g.fillStyle = "#6b7280";
  g.font = "11px system-ui, sans-serif";
  for (const fraction of [0, 0.5, 1]) {
    const y = bottom - fraction * (bottom - 8);
    g.beginPath(); g.moveTo(left, y); g.lineTo(width - 4, y); g.stroke();
    g.fillText(Math.round(top * fraction) + "/s", 4, y + 4);
  }
  // The time axis grows with the history, from 20 s up to SAMPLES samples.
  const span = Math.min(SAMPLES, Math.max(10, points.length - 1));
  g.fillText(span * REFRESH_MS / 1000 + " s ago", left, height - 4);
  g.fillText("now", width - 28, height - 4);
  const x = (i) => width - 4 - (points.length - 1 - i) * (width - 4 - left) / span;
  const y = (v) => bottom - v / top * (bottom - 8);
  for (const [key, color] of [["others", "#2563eb"], ["writes", "#b91c1c"]]) {
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo(x(i), y(p[key])) : g.moveTo(x(i), y(p[key]))));
    g.stroke();
  }
  const now = points[points.length - 1];
  $("rates-now").textContent = now ?
    "  now: " + now.writes.toFixed(1) + " writes/s, " + now.others.toFixed(1) + " other/s" : "";
}

// -- keys ----------------------------------------------------------------------------------
async function browse(after) {
  const prefix = $("prefix").value;
  let path = "/v1/keys?limit=50&prefix=" + encodeURIComponent(prefix);
  if (after) path += "&after=" + encodeURIComponent(after);
  const page = await leader(path);
  const body = $("keys").tBodies[0];
  if (!after) body.replaceChildren();
  for (const entry of page.keys) {
    const row = body.insertRow();
    row.className = "clickable";
    row.dataset.key = entry.key;
    cell(row, entry.key);
    cell(row, entry.type);
    cell(row, entry.ttl === null ? "" : Math.ceil(entry.ttl));
    row.onclick = () => guarded(() => openKey(entry.key));
  }
  state.keysNext = page.next;
  $("more-keys").hidden = !page.next;
}

function keyPath(key) {
  return "/v1/keys/" + encodeURIComponent(key);
}

async function openKey(key) {
  const view = await leader(keyPath(key));
  state.selected = key;
  for (const row of $("keys").tBodies[0].rows) {
    row.classList.toggle("selected", row.dataset.key === key);
  }
  const editable = view.type === "string" && view.encoding !== "base64";
  showKeyPanel(key, view.type + (view.truncated ? " (first " + view.value.length + " of " +
    view.length + ")" : ""), view.ttl === null ? "" : Math.ceil(view.ttl),
    view.type === "string" ? view.value : JSON.stringify(view.value, null, 2), editable);
}

function showKeyPanel(key, type, ttl, value, editable) {
  $("key-panel").hidden = false;
  $("key-title").textContent = key === null ? "New key" : "Key";
  $("key-name").value = key === null ? "" : key;
  $("key-name").readOnly = key !== null;
  $("key-type").textContent = editable ? type : type + " (view only: edit strings here)";
  $("key-ttl").value = ttl;
  $("key-value").value = value;
  $("key-value").readOnly = !editable;
  $("save-key").disabled = !editable;
  $("delete-key").hidden = key === null;
}

async function saveKey(event) {
  event.preventDefault();
  const key = $("key-name").value;
  const ttl = $("key-ttl").value;
  await leader(keyPath(key) + (ttl ? "?ttl=" + encodeURIComponent(ttl) : ""), {
    method: "PUT", body: $("key-value").value,
  });
  toast("saved " + key);
  await browse();
  await openKey(key);
}

async function deleteKey() {
  const key = state.selected;
  if (!await confirmAction("Delete the key " + key + "?")) return;
  await leader(keyPath(key), { method: "DELETE" });
  toast("deleted " + key);
  state.selected = null;
  $("key-panel").hidden = true;
  await browse();
}

// -- start ---------------------------------------------------------------------------------
function every(ms, task) {
  const run = async () => {
    await guarded(task);
    setTimeout(run, ms);
  };
  run();
}

$("add-member").onsubmit = (event) => guarded(() => addMember(event));
$("transfer-leader").onclick = () => guarded(() => transferLeader(null));
$("browse").onsubmit = (event) => { event.preventDefault(); guarded(() => browse()); };
$("more-keys").onclick = () => guarded(() => browse(state.keysNext));
$("new-key").onclick = () => showKeyPanel(null, "string", "", "", true);
$("key-form").onsubmit = (event) => guarded(() => saveKey(event));
$("delete-key").onclick = () => guarded(deleteKey);

every(REFRESH_MS, async () => {
  await refreshCluster();
  await sampleRates();
});
guarded(async () => {
  await refreshCluster();
  await browse();
});
