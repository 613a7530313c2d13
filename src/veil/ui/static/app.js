"use strict";
// veil review page: talks only to this server's /api (no external assets).
const $ = (sel) => document.querySelector(sel);
const S = { id: null, policy: null, privacy: null, kind: null, busy: 0 };

function showError(msg) {
  const el = $("#error");
  el.textContent = msg || "";
  el.hidden = !msg;
}

async function api(method, path, body, headers) {
  const opts = { method, headers: { "X-Veil-UI": "1", ...(headers || {}) } };
  if (body !== undefined) {
    if (body instanceof Blob) { opts.body = body; }
    else { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  }
  let resp;
  try { resp = await fetch(path, opts); }
  catch (e) { throw new Error("the veil ui server cannot be reached (" + e.message + ")"); }
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (!resp.ok) throw new Error((data && data.error) || ("HTTP " + resp.status));
  return data;
}

function busy(on, text) {
  S.busy += on ? 1 : -1;
  document.body.classList.toggle("busy", S.busy > 0);
  if (text) $("#status").textContent = text;
}

function settings() {
  const s = { id: S.id, anonymizer: $("#anonymizer").value.trim() };
  if (S.policy) s.policy = S.policy;
  if (S.kind === "conditioned" && S.privacy !== null) s.privacy = S.privacy;
  return s;
}

function renderPolicy(categories, policy) {
  const box = $("#policy");
  box.textContent = "";
  for (const c of categories) {
    const label = document.createElement("label");
    const cb = document.createElement("input");
    cb.type = "checkbox"; cb.value = c; cb.checked = policy.includes(c);
    cb.addEventListener("change", () => {
      S.policy = [...box.querySelectorAll("input:checked")].map((x) => x.value);
      refresh();
    });
    label.append(cb, " " + c);
    box.append(label);
  }
}

function renderImages(images) {
  const ul = $("#images");
  ul.textContent = "";
  for (const im of images) {
    const li = document.createElement("li");
    li.textContent = im.name; li.dataset.id = im.id;
    li.classList.toggle("active", im.id === S.id);
    li.addEventListener("click", () => select(im.id));
    ul.append(li);
  }
}

function svgEl(tag, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function drawOverlay(svg, img, regions) {
  svg.textContent = "";
  svg.setAttribute("viewBox", `0 0 ${img.naturalWidth || 1} ${img.naturalHeight || 1}`);
  svg.setAttribute("preserveAspectRatio", "none");
  for (const r of regions) {
    const leak = r.in_policy && !r.hidden;
    const cls = "c-" + r.category + (leak ? " leak" : "");
    const pts = r.polygon.map((p) => p.join(",")).join(" ");
    svg.append(svgEl("polygon", { points: pts, class: cls, "data-category": r.category }));
    const [x, y] = r.polygon[0];
    const t = svgEl("text", { x: x, y: Math.max(14, y - 4), class: "c-" + r.category });
    t.textContent = r.category + (r.hidden ? " hidden" : " kept");
    svg.append(t);
  }
}

function pct(v) { return v === null || v === undefined ? "-" : (100 * v).toFixed(1) + "%"; }

function renderRegions(res) {
  const tb = $("#regions tbody");
  tb.textContent = "";
  for (const r of res.regions) {
    const tr = document.createElement("tr");
    tr.className = r.in_policy && !r.hidden ? "leak" : "";
    tr.dataset.category = r.category;
    const cells = [r.category, r.text || "", r.in_policy ? "hide" : "keep", r.hidden ? "yes" : "NO",
      r.level === null || r.level === undefined ? "-" : r.level.toFixed(2) + " / 6", pct(r.change)];
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.append(td); }
    tb.append(tr);
  }
  for (const [which, regions] of [["original", res.regions], ["protected", res.regions]]) {
    const img = $(`#${which}-img`);
    const draw = () => drawOverlay($(`#${which}-overlay`), img, regions);
    if (img.complete && img.naturalWidth) draw(); else img.addEventListener("load", draw, { once: true });
  }
}

function protectedUrl(s) {
  const q = new URLSearchParams({ anonymizer: s.anonymizer });
  if (s.policy) q.set("policy", s.policy.join(","));
  if (s.privacy !== undefined) q.set("privacy", String(s.privacy));
  return `/api/images/${s.id}/protected?` + q.toString();
}

async function refresh() {
  if (!S.id) return;
  const s = settings();
  busy(true, "Protecting and finding regions...");
  try {
    const res = await api("POST", "/api/review", s);
    showError("");
    S.kind = res.kind;
    S.policy = res.policy;
    renderPolicy(STATE.categories, res.policy);
    $("#kind").textContent = `${res.kind}: ${res.anonymizer}` +
      (res.reproducible ? "" : " (policy override: not what `veil protect` gives with this spec)");
    $("#dial").hidden = res.kind !== "conditioned";
    if (res.kind === "conditioned") {
      S.privacy = res.privacy; $("#privacy").value = res.privacy; $("#privacy-value").textContent = res.privacy;
    }
    const img = $("#protected-img");
    const loaded = new Promise((ok) => img.addEventListener("load", ok, { once: true }));
    img.src = protectedUrl({ ...s, policy: res.policy });
    await loaded;
    renderRegions(res);
    const n = res.regions.length;
    $("#status").textContent = `${n} region${n === 1 ? "" : "s"} found; ` +
      (res.leaks ? `${res.leaks} the policy hides are NOT hidden` : "every region the policy hides is hidden");
    $("#status").dataset.ready = s.anonymizer + "|" + (res.policy || []).join(",") + "|" + (res.privacy ?? "");
  } catch (e) {
    showError(e.message);
    $("#status").textContent = "Protection failed.";
  } finally { busy(false); }
}

async function select(id) {
  S.id = id;
  for (const li of document.querySelectorAll("#images li")) li.classList.toggle("active", li.dataset.id === id);
  $("#original-img").src = `/api/images/${id}/original.png`;
  $("#answer-protected").textContent = "-"; $("#answer-original").textContent = "-";
  $("#saved").textContent = "";
  await refresh();
}

function answerText(a) {
  if (!a) return "-";
  let t = a.text;
  if (a.probabilities) t += "  (" + Object.entries(a.probabilities).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ") + ")";
  return t;
}

function renderStats(st) {
  const el = $("#stats");
  el.dataset.queries = st.queries;
  el.textContent = `${st.queries} paid quer${st.queries === 1 ? "y" : "ies"}, ${st.cache_hits} cache hit` +
    (st.cache_hits === 1 ? "" : "s") + (st.budget !== null && st.budget !== undefined ? `, ${st.remaining} of ${st.budget} left` : "");
}

async function ask() {
  if (!S.id) { showError("open an image first"); return; }
  const body = { ...settings(), question: $("#question").value, send_original: $("#send-original").checked };
  busy(true, "Asking the black box...");
  $("#answer-protected").textContent = "..."; $("#answer-original").textContent = body.send_original ? "..." : "-";
  try {
    const res = await api("POST", "/api/ask", body);
    showError("");
    $("#answer-protected").textContent = answerText(res.protected);
    $("#answer-original").textContent = res.original ? answerText(res.original) : "(not sent)";
    renderStats(res.stats);
    $("#status").textContent = "Answered.";
  } catch (e) {
    showError(e.message);
    $("#answer-protected").textContent = "-"; $("#answer-original").textContent = "-";
    $("#status").textContent = "The question failed.";
  } finally { busy(false); }
}

async function save() {
  if (!S.id) { showError("open an image first"); return; }
  busy(true, "Saving...");
  try {
    const res = await api("POST", "/api/save", settings());
    showError("");
    $("#saved").textContent = `saved ${res.file} (${res.bytes} bytes) and ${res.record}`;
    $("#saved").dataset.file = res.file;
    $("#status").textContent = "Saved.";
  } catch (e) { showError(e.message); } finally { busy(false); }
}

async function upload(files) {
  for (const f of files) {
    busy(true, `Opening ${f.name}...`);
    try {
      if (f.size > STATE.max_upload_bytes) throw new Error(`${f.name}: larger than the upload limit`);
      const res = await api("POST", "/api/images", f, { "X-Filename": encodeURIComponent(f.name) });
      showError("");
      STATE.images.push({ id: res.id, name: res.name });
      renderImages(STATE.images);
      await select(res.id);
    } catch (e) { showError(e.message); $("#status").textContent = "The image was refused."; }
    finally { busy(false); }
  }
}

let STATE = null;
async function init() {
  try { STATE = await api("GET", "/api/state"); } catch (e) { showError(e.message); return; }
  $("#backend").textContent = "black box: " + STATE.backend;
  $("#anonymizer").value = STATE.anonymizer;
  renderPolicy(STATE.categories, STATE.policy);
  renderImages(STATE.images);
  renderStats(STATE.stats);
  if (STATE.problems.length) showError(STATE.problems.join("\n"));
  $("#file").addEventListener("change", (ev) => { upload([...ev.target.files]); ev.target.value = ""; });
  $("#apply").addEventListener("click", () => { S.policy = null; S.privacy = null; refresh(); });
  $("#anonymizer").addEventListener("keydown", (ev) => { if (ev.key === "Enter") $("#apply").click(); });
  $("#privacy").addEventListener("change", (ev) => { S.privacy = Number(ev.target.value); refresh(); });
  $("#privacy").addEventListener("input", (ev) => { $("#privacy-value").textContent = ev.target.value; });
  $("#send-original").addEventListener("change", (ev) => { $("#original-warning").hidden = !ev.target.checked; });
  $("#ask").addEventListener("click", ask);
  $("#save").addEventListener("click", save);
  if (STATE.images.length) await select(STATE.images[0].id);
  document.body.dataset.ready = "1";
}
init();
