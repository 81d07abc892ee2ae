// health.js: the header's numbers, from GET /api/health.

import { api } from "./api.js";
import { bytes, duration } from "./dom.js";
import { define, touch } from "./sections.js";

export const healthView = define("health", {
  data: null,
  loadedAt: 0,
  async load(section) {
    try {
      section.data = await api("GET", "/api/health");
    } catch (error) {
      if (error.status !== 503 || !error.data?.db) throw error;
      section.data = error.data;         // degraded: the database cannot be read
    }
    section.loadedAt = Date.now();
  },
  draw(section) {
    const d = section.data;
    if (!d) return;
    const put = (key, text, title) => {
      const cell = document.querySelector(`#health [data-k="${key}"]`);
      cell.textContent = text;
      if (title) cell.title = title;
    };
    const c = d.counts || {}, s = d.streams || {}, db = d.db || {};
    put("version", d.version + (d.status === "ok" ? "" : ` (${d.status})`));
    put("online", c.agentsOnline ?? "–");
    put("messages", c.messages ?? "–");
    put("queued", c.queued ?? "–");
    put("tasks", c.openTasks ?? "–");
    put("streams", `${(s.sse ?? 0) + (s.ws ?? 0)}/${s.max ?? "–"}`,
        `event streams ${s.sse ?? 0}, websockets ${s.ws ?? 0}, held polls ${s.poll ?? 0}, ` +
        `limit ${s.max ?? "–"}`);
    if (db.ok === false) put("db", "unreadable", db.error || "the database cannot be read");
    else put("db", bytes((db.sizeBytes || 0) + (db.walBytes || 0)),
        `${db.path || ""}: ${bytes(db.sizeBytes)} + WAL ${bytes(db.walBytes)}` +
        (d.lastReapAt ? `; last reap ${new Date(d.lastReapAt).toLocaleTimeString()}` : ""));
    document.getElementById("health").dataset.status = d.status;
    tickUptime();
    touch("messages");           // its count says how many the relay holds
  },
});

export function tickUptime() {
  const d = healthView.data;
  if (!d || d.uptimeSeconds === undefined) return;
  const seconds = d.uptimeSeconds + (Date.now() - healthView.loadedAt) / 1000;
  document.querySelector('#health [data-k="uptime"]').textContent = duration(seconds);
}
