// Herald's mail viewer: lists the mail the local mailpit caught and shows
// one message, through mailpit's API (proxied under /api/ by the viewer).
// Every value from a message is set as text; an HTML body goes into a
// sandboxed frame without scripts.
"use strict";

const $ = (id) => document.getElementById(id);
let selected = "";
let lastList = "";

function addresses(list) {
  return (list || []).map((a) => (a.Name ? a.Name + " <" + a.Address + ">" : a.Address)).join(", ");
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

async function api(path, options) {
  const res = await fetch("api/v1/" + path, options);
  if (!res.ok) {
    throw new Error(res.status === 502 ? "The mail catcher (mailpit) is not reachable." : "mailpit answered HTTP " + res.status);
  }
  return res.status === 204 ? null : res.json();
}

async function refresh() {
  const query = $("search").value.trim();
  try {
    const data = await api(query ? "search?limit=200&query=" + encodeURIComponent(query) : "messages?limit=200");
    showError("");
    const key = JSON.stringify(data.messages.map((m) => [m.ID, m.Read]));
    $("count").textContent = data.messages_count + (data.messages_count === 1 ? " message" : " messages");
    if (key === lastList) {
      return;
    }
    lastList = key;
    renderList(data.messages);
  } catch (err) {
    showError(err.message);
  }
}

function renderList(messages) {
  const list = $("list");
  list.replaceChildren();
  $("empty").hidden = messages.length > 0;
  for (const m of messages) {
    const li = document.createElement("li");
    li.tabIndex = 0;
    li.dataset.id = m.ID;
    li.className = m.Read ? "" : "unread";
    li.setAttribute("aria-current", String(m.ID === selected));
    const meta = document.createElement("span");
    meta.className = "meta";
    const to = document.createElement("span");
    to.textContent = addresses(m.To);
    const when = document.createElement("time");
    when.dateTime = m.Created;
    when.textContent = new Date(m.Created).toLocaleTimeString();
    meta.append(to, when);
    const subject = document.createElement("span");
    subject.className = "subject";
    subject.textContent = m.Subject || "(no subject)";
    li.append(meta, subject);
    li.addEventListener("click", () => open(m.ID));
    li.addEventListener("keydown", (e) => {
      if (e.key === "Enter") open(m.ID);
    });
    list.append(li);
  }
}

async function open(id) {
  selected = id;
  history.replaceState(null, "", "#" + encodeURIComponent(id)); // a link to this message
  try {
    const m = await api("message/" + encodeURIComponent(id));
    showError("");
    $("subject").textContent = m.Subject || "(no subject)";
    $("from").textContent = addresses(m.From ? [m.From] : []);
    $("to").textContent = addresses(m.To);
    $("date").textContent = new Date(m.Date).toLocaleString();
    $("html").srcdoc = m.HTML || "";
    $("text").textContent = m.Text || "";
    $("message").hidden = false;
    tab(m.HTML ? "html" : "text");
    lastList = ""; // it is read now
    refresh();
  } catch (err) {
    showError(err.message);
  }
}

function tab(which) {
  $("tab-html").setAttribute("aria-selected", String(which === "html"));
  $("tab-text").setAttribute("aria-selected", String(which === "text"));
  $("html").hidden = which !== "html";
  $("text").hidden = which !== "text";
}

$("tab-html").addEventListener("click", () => tab("html"));
$("tab-text").addEventListener("click", () => tab("text"));
$("refresh").addEventListener("click", refresh);
$("search").addEventListener("input", () => {
  lastList = "";
  refresh();
});
$("clear").addEventListener("click", async () => {
  if (!confirm("Delete every caught message?")) return;
  try {
    await api("messages", { method: "DELETE" });
    selected = "";
    $("message").hidden = true;
    refresh();
  } catch (err) {
    showError(err.message);
  }
});

refresh();
if (location.hash.length > 1) {
  open(decodeURIComponent(location.hash.slice(1)));
}
// New mail shows up without a reload.
setInterval(refresh, 2000);
