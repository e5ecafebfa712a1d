// The mesh's web UI: plain JavaScript on the public REST API (docs/DECISIONS.md, "Web UI").
// Pages are hash routes; lists stay live through blocking queries (at most four at once per
// page, all cancelled on navigation); the token lives in this tab's sessionStorage only.

const TOKEN_KEY = "mesh-token";
const MAX_LIVE = 4;
const main = document.getElementById("main");
const connection = document.getElementById("connection");
const logout = document.getElementById("logout");

let page = null; // { controller, live } of the page shown

class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path, { method = "GET", body, signal } = {}) {
  const headers = {};
  const secret = token();
  if (secret) headers["X-Consul-Token"] = secret;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    cache: "no-store",
  });
  const text = await response.text();
  if (!response.ok) throw new APIError(response.status, text.trim() || response.statusText);
  return { data: text ? JSON.parse(text) : null, index: response.headers.get("X-Consul-Index") };
}

// Elements without innerHTML: every value from the API is text.
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function setConnected(up) {
  connection.textContent = up ? "" : "Connection to the API lost; retrying…";
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

// Follows `path` with blocking queries and calls render(data) on each change (and
// render(null, error) when the API refuses). Ends with the page.
function live(path, render) {
  const current = page;
  if (current.live >= MAX_LIVE) throw new Error(`more than ${MAX_LIVE} live queries on one page`);
  current.live += 1;
  const signal = current.controller.signal;
  (async () => {
    let index = 0;
    let backoff = 500;
    while (!signal.aborted) {
      try {
        const separator = path.includes("?") ? "&" : "?";
        const answer = await api(`${path}${separator}index=${index}&wait=60s`, { signal });
        setConnected(true);
        backoff = 500;
        if (!answer.index) {
          // No index: the endpoint does not block. Shown once, never polled.
          render(answer.data, null);
          return;
        }
        const next = Number(answer.index);
        // Consul's rule: an index that went back means the data was reset; start over.
        if (index === 0 || next !== index) render(answer.data, null);
        index = next > 0 && next >= index ? next : 0;
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof APIError) {
          render(null, error);
          if (error.status === 403 || error.status === 401) return;
          if (error.status === 404) index = 0;
          await sleep(2000, signal);
        } else {
          setConnected(false);
          await sleep(backoff, signal);
          backoff = Math.min(backoff * 2, 10000);
        }
      }
    }
  })();
}

// Whether the caller's token may `access` `resource` on each of `segments` (one call).
async function mayEach(resource, segments, access) {
  if (segments.length === 0) return [];
  try {
    const { data } = await api("/v1/internal/acl/authorize", {
      method: "POST",
      body: segments.map((segment) => ({ Resource: resource, Segment: segment, Access: access })),
    });
    return segments.map((_, i) => Boolean(data[i] && data[i].Allow === true));
  } catch {
    return segments.map(() => false);
  }
}

async function may(resource, segment, access) {
  return (await mayEach(resource, [segment], access))[0];
}

function statusOf(checks) {
  if (checks.some((c) => c.Status === "critical")) return "critical";
  if (checks.some((c) => c.Status === "warning")) return "warning";
  return "passing";
}

function statusText(status) {
  return h("span", { class: `status ${status}` }, status);
}

function tags(list) {
  return (list || []).map((tag) => h("span", { class: "tag" }, tag));
}

function problem(error) {
  return h("p", { class: "error", role: "alert" }, `${error.status === 403 ? "Not allowed" : "Error"}: ${error.message}`);
}

function table(caption, headers, rows, empty) {
  if (rows.length === 0) return h("p", {}, empty);
  return h(
    "table",
    {},
    h("caption", { class: "reason" }, caption),
    h("thead", {}, h("tr", {}, headers.map((title) => h("th", { scope: "col" }, title)))),
    h(
      "tbody",
      {},
      rows.map((cells) => h("tr", {}, cells.map((cell, i) => h("td", { "data-label": headers[i] }, cell)))),
    ),
  );
}

// ---- Pages

function loginPage() {
  const input = h("input", { id: "token", name: "token", type: "password", required: true });
  const message = h("p", { role: "alert" });
  const form = h(
    "form",
    {
      class: "inline",
      onsubmit: async (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        try {
          await api("/v1/acl/token/self");
          location.hash = "#/services";
        } catch (error) {
          sessionStorage.removeItem(TOKEN_KEY);
          message.textContent = `Log in failed: ${error.message}`;
          message.className = "error";
        }
      },
    },
    h("label", { for: "token" }, "ACL token (SecretID)", input),
    h("button", { type: "submit" }, "Log in"),
  );
  return [
    h("h1", {}, "Log in"),
    h("p", {}, "The token is kept in this browser tab only and sent with each API call."),
    form,
    message,
  ];
}

function servicesPage() {
  const body = h("div", {}, h("p", {}, "Loading…"));
  live("/v1/internal/ui/services", (data, error) => {
    if (error) return body.replaceChildren(problem(error));
    const rows = (data || []).map((service) => {
      const health = service.ChecksCritical > 0 ? "critical" : service.ChecksWarning > 0 ? "warning" : "passing";
      const checks = service.ChecksPassing + service.ChecksWarning + service.ChecksCritical;
      return [
        h("a", { href: `#/services/${encodeURIComponent(service.Name)}` }, service.Name),
        String(service.InstanceCount),
        checks ? statusText(health) : "no checks",
        `${service.ChecksPassing} passing, ${service.ChecksWarning} warning, ${service.ChecksCritical} critical`,
        service.Kind || "",
        tags(service.Tags),
      ];
    });
    body.replaceChildren(
      table("Services in the catalog", ["Service", "Instances", "Health", "Checks", "Kind", "Tags"], rows, "No services."),
    );
  });
  return [h("h1", {}, "Services"), body];
}

function servicePage(name) {
  const instances = h("div", {}, h("p", {}, "Loading…"));
  const intentions = h("div", {});
  live(`/v1/health/service/${encodeURIComponent(name)}`, (data, error) => {
    if (error) return instances.replaceChildren(problem(error));
    const rows = (data || []).map((entry) => [
      entry.Service.ID,
      entry.Node.Node,
      `${entry.Service.Address || entry.Node.Address}:${entry.Service.Port}`,
      statusText(statusOf(entry.Checks)),
      h(
        "ul",
        {},
        entry.Checks.map((c) =>
          h("li", {}, statusText(c.Status), " ", c.Name || c.CheckID, c.Output ? h("pre", {}, c.Output) : null),
        ),
      ),
    ]);
    instances.replaceChildren(
      table(`Instances of ${name}`, ["Instance", "Node", "Address", "Health", "Checks"], rows, "No instances."),
    );
  });
  live("/v1/connect/intentions", (data, error) => {
    if (error) return intentions.replaceChildren(problem(error));
    const mine = (data || []).filter((i) => i.DestinationName === name || i.SourceName === name);
    intentions.replaceChildren(
      table(
        `Intentions to and from ${name}`,
        ["Source", "Destination", "Action"],
        mine.map((i) => [i.SourceName, i.DestinationName, i.Action || "(L7 permissions)"]),
        "No intentions name this service.",
      ),
    );
  });
  return [
    h("p", {}, h("a", { href: "#/services" }, "← Services")),
    h("h1", {}, name),
    h("h2", {}, "Instances"),
    instances,
    h("h2", {}, "Intentions"),
    intentions,
  ];
}

function nodesPage() {
  const body = h("div", {}, h("p", {}, "Loading…"));
  live("/v1/catalog/nodes", (data, error) => {
    if (error) return body.replaceChildren(problem(error));
    const rows = (data || []).map((n) => [n.Node, n.Address, n.Datacenter, tags(Object.entries(n.Meta || {}).map(([k, v]) => `${k}=${v}`))]);
    body.replaceChildren(table("Nodes in the catalog", ["Node", "Address", "Datacenter", "Meta"], rows, "No nodes."));
  });
  return [h("h1", {}, "Nodes"), body];
}

function intentionsPage() {
  const list = h("div", {}, h("p", {}, "Loading…"));
  const source = h("input", { id: "source", name: "source", required: true });
  const destination = h("input", { id: "destination", name: "destination", required: true });
  const action = h("select", { id: "action", name: "action" }, h("option", { value: "allow" }, "allow"), h("option", { value: "deny" }, "deny"));
  const create = h("button", { type: "submit", "aria-describedby": "create-reason" }, "Create");
  const reason = h("p", { id: "create-reason", class: "reason" });
  const message = h("p", { role: "alert" });
  let writable = false;
  const checkWrite = async () => {
    writable = await may("intention", destination.value.trim(), "write");
    create.disabled = !writable;
    reason.textContent = writable
      ? ""
      : `Your token lacks intention:write on "${destination.value.trim() || "*"}", so it cannot create intentions here.`;
  };
  destination.addEventListener("change", checkWrite);
  checkWrite();
  const form = h(
    "form",
    {
      class: "inline",
      onsubmit: async (event) => {
        event.preventDefault();
        const path =
          `/v1/connect/intentions/exact?source=${encodeURIComponent(source.value.trim())}` +
          `&destination=${encodeURIComponent(destination.value.trim())}`;
        try {
          await api(path, { method: "PUT", body: { Action: action.value } });
          message.textContent = `Saved: ${source.value.trim()} → ${destination.value.trim()} (${action.value})`;
          message.className = "";
        } catch (error) {
          message.textContent = `Not saved: ${error.message}`;
          message.className = "error";
        }
      },
    },
    h("label", { for: "source" }, "Source service", source),
    h("label", { for: "destination" }, "Destination service", destination),
    h("label", { for: "action" }, "Action", action),
    create,
  );
  live("/v1/connect/intentions", async (data, error) => {
    if (error) return list.replaceChildren(problem(error));
    const sorted = (data || []).slice().sort((a, b) => (b.Precedence || 0) - (a.Precedence || 0));
    const destinations = [...new Set(sorted.map((i) => i.DestinationName))];
    const allowed = new Map(
      (await mayEach("intention", destinations, "write")).map((yes, i) => [destinations[i], yes]),
    );
    const rows = sorted.map((i) => [
      i.SourceName,
      i.DestinationName,
      i.Action || "(L7 permissions)",
      String(i.Precedence ?? ""),
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          "aria-label": `Delete ${i.SourceName} to ${i.DestinationName}`,
          disabled: !allowed.get(i.DestinationName),
          title: allowed.get(i.DestinationName) ? null : `Your token lacks intention:write on "${i.DestinationName}"`,
          onclick: async () => {
            const path =
              `/v1/connect/intentions/exact?source=${encodeURIComponent(i.SourceName)}` +
              `&destination=${encodeURIComponent(i.DestinationName)}`;
            try {
              await api(path, { method: "DELETE" });
            } catch (error) {
              message.textContent = `Not deleted: ${error.message}`;
              message.className = "error";
            }
          },
        },
        "Delete",
      ),
    ]);
    list.replaceChildren(
      table("Intentions by precedence", ["Source", "Destination", "Action", "Precedence", ""], rows, "No intentions."),
    );
  });
  return [h("h1", {}, "Intentions"), h("h2", {}, "Create or replace"), form, reason, message, h("h2", {}, "All intentions"), list];
}

// ---- Routing

function route() {
  if (page) page.controller.abort();
  page = { controller: new AbortController(), live: 0 };
  setConnected(true);
  const hash = location.hash || "#/services";
  logout.hidden = !token();
  let content;
  if (!token() && hash !== "#/login") {
    location.hash = "#/login";
    return;
  }
  const service = hash.match(/^#\/services\/(.+)$/);
  if (hash === "#/login") content = loginPage();
  else if (service) content = servicePage(decodeURIComponent(service[1]));
  else if (hash === "#/nodes") content = nodesPage();
  else if (hash === "#/intentions") content = intentionsPage();
  else content = servicesPage();
  main.replaceChildren(...content);
  const title = main.querySelector("h1");
  document.title = `${title ? title.textContent : "swift-mesh"} · swift-mesh`;
  main.focus();
}

logout.addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.hash = "#/login";
});
window.addEventListener("hashchange", route);
route();
