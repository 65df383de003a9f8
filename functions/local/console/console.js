// The studio console: a small client of the studio API, served by the local binary.
// No framework and no build step. The page's CSP forbids inline code, eval and HTML
// written from strings (Trusted Types with no policy), so every node is built with
// createElement and every text set with textContent: a value from the API is never
// markup. The project token lives in this tab's sessionStorage only. Credentials are
// typed into password inputs, sent once, and never shown: the API never returns them,
// and the console shows which credential fields are set by name only.
"use strict";

(() => {
  const SESSION = { project: "studio.project", token: "studio.token", name: "studio.project_name" };
  const main = document.getElementById("main");
  const messages = document.getElementById("messages");
  const nav = document.getElementById("nav");
  const badge = document.getElementById("project-badge");
  let generation = 0;
  let pendingMessage = null;

  // ---- DOM helpers -------------------------------------------------------------

  /** An element with attributes (`text` sets its text, `on<event>` listens) and children. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = String(value);
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (value === true) el.setAttribute(key, "");
      else el.setAttribute(key, String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  const link = (href, text, attrs) => h("a", Object.assign({ href }, attrs || {}), text);
  const enc = encodeURIComponent;
  const pretty = (value) => JSON.stringify(value, null, 2);

  function say(text, kind) {
    messages.replaceChildren(h("p", { class: "message " + (kind || "ok"), text }));
  }

  function facts(rows) {
    return h("dl", { class: "facts" }, rows.filter(Boolean).map(([term, value]) => [h("dt", { text: term }), h("dd", {}, value)]));
  }

  /** `2026-12-07T23:24:38.713443653Z` → `2026-12-07 23:24:38.713 UTC`. */
  function when(iso) {
    if (typeof iso !== "string") return "—";
    return iso.replace("T", " ").replace(/(\.\d{3})\d*/, "$1").replace(/Z$/, " UTC");
  }

  /** Milliseconds since the epoch, keeping the microseconds the API gives. */
  function instant(iso) {
    const m = /^(.*?)(?:\.(\d+))?Z$/.exec(iso || "");
    if (!m) return NaN;
    return Date.parse(m[1] + "Z") + (m[2] ? Number("0." + m[2]) * 1000 : 0);
  }

  function took(from, to) {
    const ms = instant(to) - instant(from);
    if (!Number.isFinite(ms)) return "—";
    return (ms < 10 ? ms.toFixed(2) : ms.toFixed(0)) + " ms";
  }

  function focusHeading(el) {
    if (!el) return;
    el.setAttribute("tabindex", "-1");
    el.focus();
  }

  // ---- The API -----------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || "HTTP " + status);
      this.status = status;
      this.problem = problem || {};
    }
  }

  const session = {
    get project() { return sessionStorage.getItem(SESSION.project); },
    get token() { return sessionStorage.getItem(SESSION.token); },
    get name() { return sessionStorage.getItem(SESSION.name); },
    open(project, token, name) {
      sessionStorage.setItem(SESSION.project, project);
      sessionStorage.setItem(SESSION.token, token);
      sessionStorage.setItem(SESSION.name, name || "");
    },
    close() { Object.values(SESSION).forEach((key) => sessionStorage.removeItem(key)); },
  };

  /** The project's routes' prefix. */
  const projectPath = () => "/projects/" + enc(session.project);

  async function api(method, path, body) {
    const headers = { accept: "application/json" };
    const token = session.token;
    const authorized = Boolean(token) && path.startsWith("/projects/");
    if (authorized) headers.authorization = "Bearer " + token;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch (error) {
      throw new ApiError(0, { title: "The server did not answer", detail: String(error && error.message) });
    }
    const text = response.status === 204 ? "" : await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = { detail: text }; }
    }
    if (!response.ok) {
      if (response.status === 401 && authorized) session.close();
      throw new ApiError(response.status, data);
    }
    return data;
  }

  /** A problem+json answer as a block: title, detail, the fields at fault. */
  function problemView(error, heading) {
    const p = error instanceof ApiError ? error.problem : { detail: String(error) };
    const status = error instanceof ApiError && error.status ? " (" + error.status + ")" : "";
    const box = h("div", { class: "problem", role: "alert" },
      h("h3", { text: (heading || p.title || "The request failed") + status }),
      p.detail ? h("p", { text: p.detail }) : null,
      Array.isArray(p.errors) && p.errors.length
        ? h("ul", {}, p.errors.map((e) => h("li", {}, h("code", { text: e.field }), " ", e.message)))
        : null,
      error instanceof ApiError && error.status === 401
        ? h("p", {}, "The project token was refused. ", link("#/", "Open a project"))
        : null);
    return box;
  }

  /** Runs `work` with the form's buttons disabled, showing a failure in `out`. */
  async function busy(form, out, work) {
    const buttons = Array.from(form.querySelectorAll("button"));
    buttons.forEach((b) => { b.disabled = true; });
    if (out) out.replaceChildren();
    try {
      await work();
    } catch (error) {
      if (out) {
        const box = problemView(error);
        out.replaceChildren(box);
        focusHeading(box.querySelector("h3"));
      } else {
        say(error.message, "error");
      }
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  // ---- Forms -------------------------------------------------------------------

  /** A labelled input with its hint and the rules it is checked against. */
  function field(spec) {
    const describedBy = [];
    const hint = spec.hint ? h("p", { class: "hint", id: spec.id + "-hint", text: spec.hint }) : null;
    if (hint) describedBy.push(hint.id);
    const rules = spec.rules && spec.rules.length
      ? h("ul", { class: "rules", id: spec.id + "-rules" }, spec.rules.map((r) => h("li", { text: r })))
      : null;
    if (rules) describedBy.push(rules.id);
    const error = h("p", { class: "field-error", id: spec.id + "-error", hidden: true });
    describedBy.push(error.id);
    let control;
    const common = {
      id: spec.id,
      name: spec.name || spec.id,
      required: spec.required,
      "aria-describedby": describedBy.join(" "),
    };
    if (spec.choices) {
      control = h("select", common,
        spec.required ? null : h("option", { value: "", text: "(none)" }),
        spec.choices.map((c) => h("option", { value: c, text: c, selected: c === spec.value })));
    } else if (spec.multiline) {
      control = h("textarea", Object.assign(common, { rows: spec.rows || 3, placeholder: spec.placeholder }));
      control.value = spec.value || "";
    } else {
      control = h("input", Object.assign(common, {
        type: spec.type || "text",
        placeholder: spec.placeholder,
        minlength: spec.minLength,
        maxlength: spec.maxLength,
        autocomplete: spec.type === "password" ? "new-password" : "off",
        spellcheck: "false",
      }));
      if (spec.value !== undefined && spec.value !== null) control.value = spec.value;
    }
    const wrap = h("div", { class: "field" },
      h("label", { for: spec.id }, spec.label, spec.required ? h("span", { class: "required", text: " (required)" }) : null),
      control, hint, rules, error);
    wrap.check = spec.check;
    return wrap;
  }

  function showFieldError(wrap, text) {
    const control = wrap.querySelector("input, select, textarea");
    const error = wrap.querySelector(".field-error");
    if (text) {
      error.textContent = text;
      error.hidden = false;
      control.setAttribute("aria-invalid", "true");
    } else {
      error.textContent = "";
      error.hidden = true;
      control.removeAttribute("aria-invalid");
    }
  }

  /** Checks every visible field of a form; focuses the first wrong one. */
  function checkFields(form) {
    let first = null;
    for (const wrap of form.querySelectorAll(".field")) {
      if (wrap.hidden || !wrap.check) continue;
      const control = wrap.querySelector("input, select, textarea");
      const problem = wrap.check(control.value);
      showFieldError(wrap, problem);
      if (problem && !first) first = control;
    }
    if (first) first.focus();
    return !first;
  }

  /** Shows a 422's `errors` next to the fields they name; true when any was placed. */
  function placeErrors(form, error, idOf) {
    if (!(error instanceof ApiError) || !Array.isArray(error.problem.errors)) return false;
    let placed = false;
    for (const e of error.problem.errors) {
      const control = form.querySelector("#" + CSS.escape(idOf(String(e.field))));
      if (!control) continue;
      showFieldError(control.closest(".field"), e.message);
      placed = true;
    }
    return placed;
  }

  const requiredCheck = (label) => (v) => (v.trim() ? null : label + " is required");

  // ---- Views -------------------------------------------------------------------

  function startView() {
    const createOut = h("div");
    const openOut = h("div");
    const createForm = h("form", { id: "create-project", novalidate: true },
      field({ id: "project-name", label: "Project name", required: true, placeholder: "clinic", check: requiredCheck("A name") }),
      h("div", { class: "actions" }, h("button", { type: "submit", text: "Create project" })));
    createForm.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!checkFields(createForm)) return;
      busy(createForm, createOut, async () => {
        const name = createForm.querySelector("#project-name").value.trim();
        const created = await api("POST", "/projects", { name });
        session.open(created.id, created.token, created.name);
        showCreated(created);
      });
    });
    const openForm = h("form", { id: "open-project", novalidate: true },
      field({ id: "open-id", label: "Project id", required: true, check: requiredCheck("The project id") }),
      field({ id: "open-token", label: "Project token", type: "password", required: true,
        hint: "Kept in this tab's sessionStorage only; closing the tab forgets it.", check: requiredCheck("The token") }),
      h("div", { class: "actions" }, h("button", { type: "submit", text: "Open project" })));
    openForm.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!checkFields(openForm)) return;
      busy(openForm, openOut, async () => {
        const id = openForm.querySelector("#open-id").value.trim();
        const token = openForm.querySelector("#open-token").value;
        session.open(id, token, "");
        try {
          const project = await api("GET", "/projects/" + enc(id));
          session.open(project.id, token, project.name);
        } catch (error) {
          session.close();
          throw error;
        }
        openForm.reset();
        navigate("#/integrations", "Project opened.");
      });
    });
    return [
      h("h1", { text: "Studio console" }),
      h("p", { class: "lead", text: "Connect a project's integrations, compile workflow steps from plain words, and see exactly what a run sends." }),
      h("div", { class: "columns" },
        h("section", { "aria-labelledby": "create-heading" },
          h("h2", { id: "create-heading", text: "Create a project" }),
          h("p", { text: "The API issues the project's token once; the console shows it once and keeps it in this tab." }),
          createForm, createOut),
        h("section", { "aria-labelledby": "open-heading" },
          h("h2", { id: "open-heading", text: "Open a project" }),
          openForm, openOut)),
      h("h2", { text: "From a terminal" }),
      h("pre", { text: "curl -s -X POST " + location.origin + "/projects \\\n  -H 'content-type: application/json' -d '{\"name\":\"clinic\"}'\n# {\"id\":\"…\",\"name\":\"clinic\",\"token\":\"stk_…\"}  <- the token is shown once" }),
    ];
  }

  function showCreated(created) {
    updateChrome();
    const token = h("input", { id: "project-token", type: "text", readonly: true, "aria-describedby": "token-note" });
    token.value = created.token;
    const id = h("input", { id: "project-id", type: "text", readonly: true });
    id.value = created.id;
    const heading = h("h1", { text: "Project " + created.name + " created" });
    main.replaceChildren(
      heading,
      h("section", { class: "token-once", "aria-labelledby": "token-heading" },
        h("h2", { id: "token-heading", text: "Keep the token now: it is shown once" }),
        h("div", { class: "field" }, h("label", { for: "project-id", text: "Project id" }), id),
        h("div", { class: "field" }, h("label", { for: "project-token", text: "Project token" }), token),
        h("p", { id: "token-note", text: "The API stores only its hash. This tab keeps it in sessionStorage until the tab is closed; to come back later, open the project with its id and token." })),
      h("p", {}, link("#/integrations/new", "Add an integration", { id: "first-integration" }), " · ", link("#/integrations", "Integrations")));
    focusHeading(heading);
  }

  async function integrationsView() {
    const listed = await api("GET", projectPath() + "/integrations");
    const rows = listed.integrations.map((i) => h("tr", {},
      h("td", {}, link("#/integrations/" + enc(i.name), i.name)),
      h("td", { text: i.provider }),
      h("td", {}, statusBadge(i)),
      h("td", { text: i.needs_attention || "—" }),
      h("td", { text: "v" + i.credential_version }),
      h("td", { text: when(i.updated_at) })));
    return [
      h("h1", { text: "Integrations" }),
      h("p", { class: "lead", text: "The project's named outbound connections. Credentials are sealed; this page shows which fields are set, never their values." }),
      rows.length
        ? h("table", { id: "integrations" },
          h("thead", {}, h("tr", {}, ["Name", "Provider", "Status", "Needs attention", "Credentials", "Updated"].map((t) => h("th", { scope: "col", text: t })))),
          h("tbody", {}, rows))
        : h("p", { text: "No integrations yet." }),
      h("p", {}, link("#/integrations/new", "Add an integration")),
    ];
  }

  function statusBadge(integration) {
    return integration.needs_attention
      ? h("span", { class: "badge attention", text: "needs attention" })
      : h("span", { class: "badge ok", text: "ready" });
  }

  function addIntegrationView() {
    const result = h("div", { id: "describe-result" });
    const out = h("div");
    const form = h("form", { id: "describe-form", novalidate: true },
      field({ id: "describe-text", label: "What do you want to connect?", required: true,
        placeholder: "Connect to Postmark to send transactional emails.",
        hint: "Plain words: a product, what it should do, or an API's URL.", check: requiredCheck("A sentence") }),
      h("div", { class: "actions" }, h("button", { type: "submit", text: "Describe" })));
    const describe = (text) => busy(form, out, async () => {
      const described = await api("POST", projectPath() + "/integrations/describe", { text });
      result.replaceChildren(...describedView(described, describe).filter(Boolean));
      const heading = result.querySelector("h2");
      focusHeading(heading);
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!checkFields(form)) return;
      describe(form.querySelector("#describe-text").value.trim());
    });
    return [
      h("h1", { text: "Add an integration" }),
      h("p", { class: "lead", text: "Describe the connection; the console asks for exactly the fields it needs." }),
      form, out, result,
    ];
  }

  function describedView(described, describe) {
    const candidates = described.candidates || [];
    const chosen = candidates.find((c) => c.provider === described.provider);
    const others = candidates.filter((c) => c !== chosen);
    const parts = [
      h("h2", { text: chosen ? "Best fit: " + chosen.display_name : "No provider fits" }),
      chosen ? h("p", {}, chosen.reason + " · " + Math.round(chosen.confidence * 100) + " % · " + chosen.category) : null,
      described.message ? h("p", { text: described.message }) : null,
    ];
    if (others.length) {
      parts.push(h("details", {},
        h("summary", { text: "Other candidates (" + others.length + ")" }),
        h("ul", {}, others.map((c) => h("li", {},
          c.display_name + " — " + c.reason + " (" + Math.round(c.confidence * 100) + " %) ",
          h("button", { type: "button", class: "secondary", text: "Use " + c.display_name,
            onclick: () => describe("Connect to " + c.display_name) }))))));
    }
    if (described.provider && described.prompt) parts.push(createForm(described));
    return parts;
  }

  /** The rules create enforces on a prompt field, in words. */
  function rulesOf(f) {
    const rules = [];
    if (f.prefixes && f.prefixes.length) rules.push("starts with " + f.prefixes.join(" or "));
    if (f.min_length) rules.push("at least " + f.min_length + " characters");
    if (f.max_length) rules.push("at most " + f.max_length + " characters");
    if (f.pattern) rules.push("matches " + f.pattern);
    if (f.format) rules.push("format: " + f.format);
    if (f.enum && f.enum.length) rules.push("one of " + f.enum.join(", "));
    if (f.default) rules.push("default: " + f.default);
    if (f.needed_for && f.needed_for.length) rules.push("needed for " + f.needed_for.join(", "));
    if (f.when) rules.push("asked when " + Object.entries(f.when).map(([k, v]) => k + " is " + v).join(" and "));
    return rules;
  }

  /** Checks a value against a prompt field's rules, as create will. */
  function checkOf(f) {
    return (value) => {
      if (!value) return f.required ? f.label + " is required" : null;
      if (f.prefixes && f.prefixes.length && !f.prefixes.some((p) => value.startsWith(p)))
        return "must start with " + f.prefixes.join(" or ");
      if (f.min_length && value.length < f.min_length) return "needs at least " + f.min_length + " characters";
      if (f.max_length && value.length > f.max_length) return "takes at most " + f.max_length + " characters";
      if (f.pattern) {
        let re = null;
        try { re = new RegExp("^(?:" + f.pattern + ")$", "u"); } catch (_) { re = null; }
        if (re && !re.test(value)) return "does not match " + f.pattern;
      }
      if (f.format === "email" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) return "is not an email address";
      if (f.format === "url" && !/^https?:\/\/\S+$/.test(value)) return "is not an http(s) URL";
      return null;
    };
  }

  const INPUT_TYPES = { email: "email", url: "url", phone: "tel" };

  function promptField(f, group) {
    const wrap = field({
      id: group + "-" + f.name,
      name: f.name,
      label: f.label,
      required: f.required,
      type: f.secret ? "password" : INPUT_TYPES[f.format] || "text",
      choices: f.enum && f.enum.length ? f.enum : null,
      value: f.secret ? undefined : f.default,
      placeholder: f.example ? "e.g. " + f.example : undefined,
      minLength: f.min_length,
      maxLength: f.max_length,
      hint: f.help,
      rules: rulesOf(f),
      check: checkOf(f),
    });
    wrap.dataset.group = group;
    wrap.dataset.name = f.name;
    if (f.when) wrap.dataset.when = JSON.stringify(f.when);
    return wrap;
  }

  /** Shows the fields asked only under some config values (Custom HTTP's auth scheme). */
  function applyWhen(form) {
    for (const wrap of form.querySelectorAll(".field[data-when]")) {
      const conditions = JSON.parse(wrap.dataset.when);
      const shown = Object.entries(conditions).every(([name, value]) => {
        const control = form.querySelector("#config-" + CSS.escape(name));
        return control && control.value === value;
      });
      wrap.hidden = !shown;
      wrap.querySelector("input, select, textarea").disabled = !shown;
    }
  }

  /** A config value as typed: JSON when it is an object or a list, else the text. */
  function configValue(text) {
    const trimmed = text.trim();
    if (/^[[{]/.test(trimmed)) {
      try { return JSON.parse(trimmed); } catch (_) { return text; }
    }
    return text;
  }

  function createForm(described) {
    const prompt = described.prompt;
    const out = h("div");
    const form = h("form", { id: "create-form", novalidate: true, "aria-labelledby": "create-heading" },
      h("h2", { id: "create-heading", text: "Add " + described.provider }),
      field({ id: "integration-name", label: "Name in this project", required: true, value: described.suggested_name,
        hint: "Steps name the integration by this name.", check: requiredCheck("A name") }),
      prompt.credentials.length
        ? h("fieldset", {}, h("legend", { text: "Credentials (sealed on arrival, never shown again)" }),
          prompt.credentials.map((f) => promptField(f, "credentials")))
        : null,
      prompt.config.length
        ? h("fieldset", {}, h("legend", { text: "Settings" }), prompt.config.map((f) => promptField(f, "config")))
        : null,
      prompt.scopes && prompt.scopes.length
        ? h("p", {}, "It asks for these OAuth scopes: ", h("code", { text: prompt.scopes.join(" ") }))
        : null,
      described.provider === "custom_http"
        ? field({ id: "config-json", label: "More settings as JSON", multiline: true, rows: 6,
          hint: "Merged over the settings above: auth ({\"scheme\": \"header\", \"header\": \"X-Api-Key\"}) and endpoints ([{\"name\", \"method\", \"path\", \"input_schema\", \"response_schema\"}]).",
          check: (v) => { if (!v.trim()) return null; try { JSON.parse(v); return null; } catch (_) { return "is not JSON"; } } })
        : null,
      h("div", { class: "actions" }, h("button", { type: "submit", text: "Add integration" })),
      out);
    const suggested = described.suggested_config || {};
    for (const [name, value] of Object.entries(suggested)) {
      const control = form.querySelector("#config-" + CSS.escape(name));
      if (control && !control.value && typeof value === "string") control.value = value;
    }
    form.addEventListener("change", () => applyWhen(form));
    applyWhen(form);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!checkFields(form)) return;
      busy(form, out, async () => {
        const body = { name: form.querySelector("#integration-name").value.trim(), provider: described.provider, credentials: {}, config: {} };
        for (const wrap of form.querySelectorAll(".field[data-group]")) {
          if (wrap.hidden) continue;
          const value = wrap.querySelector("input, select, textarea").value;
          if (value === "") continue;
          if (wrap.dataset.group === "credentials") body.credentials[wrap.dataset.name] = value;
          else body.config[wrap.dataset.name] = configValue(value);
        }
        // The prompt names Custom HTTP's auth by its scheme; create takes it as an object
        // (a header or query scheme also names its header or parameter: the JSON box).
        if (described.provider === "custom_http" && typeof body.config.auth === "string") {
          body.config.auth = { scheme: body.config.auth };
        }
        const extra = form.querySelector("#config-json");
        if (extra && extra.value.trim()) Object.assign(body.config, JSON.parse(extra.value));
        try {
          const created = await api("POST", projectPath() + "/integrations", body);
          // The secrets leave the page with the form.
          form.reset();
          form.remove();
          navigate("#/integrations/" + enc(created.name), created.name + " added (credential version " + created.credential_version + ").");
        } catch (error) {
          placeErrors(form, error, (f) => (f === "name" ? "integration-name" : f.replace(".", "-")));
          throw error;
        }
      });
    });
    return form;
  }

  function dependentsList(workflows, id) {
    if (!workflows.length) return h("p", { id, text: "No workflow uses it." });
    return h("ul", { id }, workflows.map((w) => h("li", {},
      link("#/workflows/" + enc(w.workflow), w.workflow),
      h("ul", {}, w.steps.map((s) => h("li", { class: "dependent-step" },
        "Step " + s.step + " · ", h("code", { text: s.operation }), " · ",
        s.outbound ? "outbound call" : "trigger"))))));
  }

  async function integrationView(name) {
    const base = projectPath() + "/integrations/" + enc(name);
    const [integration, dependents] = await Promise.all([api("GET", base), api("GET", base + "/dependents")]);
    const out = h("div", { id: "action-result" });
    const config = Object.entries(integration.config || {});
    const rotateForm = h("form", { id: "rotate-form", novalidate: true, hidden: true },
      h("fieldset", {}, h("legend", { text: "New credentials (a new version; the old one stops being used)" }),
        integration.credential_fields.map((f) => field({ id: "rotate-" + f, name: f, label: f, type: "password", required: true, check: requiredCheck(f) }))),
      h("div", { class: "actions" },
        h("button", { type: "submit", text: "Store new credentials" }),
        h("button", { type: "button", class: "secondary", text: "Cancel", onclick: () => { rotateForm.reset(); rotateForm.hidden = true; rotateToggle.focus(); } })));
    const rotateToggle = h("button", { type: "button", id: "rotate-toggle", class: "secondary", text: "Rotate credentials",
      onclick: () => { rotateForm.hidden = false; rotateForm.querySelector("input").focus(); } });
    rotateForm.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!checkFields(rotateForm)) return;
      busy(rotateForm, out, async () => {
        const credentials = {};
        for (const input of rotateForm.querySelectorAll("input")) credentials[input.name] = input.value;
        const rotated = await api("PUT", base + "/credentials", { credentials });
        rotateForm.reset();
        navigate("#/integrations/" + enc(name), "Credentials rotated: version " + rotated.credential_version + ".", true);
      });
    });
    const confirm = h("div", { id: "delete-confirm", class: "card", hidden: true },
      h("p", { text: "Delete " + name + "? Its sealed credentials are removed. A step that uses it must be removed or recompiled first." }),
      h("div", { class: "actions" },
        h("button", { type: "button", id: "delete-button", class: "danger", text: "Delete " + name,
          onclick: (event) => busy(confirm, out, async () => {
            try {
              await api("DELETE", base);
            } catch (error) {
              if (error instanceof ApiError && error.status === 409) {
                confirm.hidden = true;
                out.replaceChildren(blastRadius(error));
                focusHeading(out.querySelector("h3"));
                return;
              }
              throw error;
            }
            navigate("#/integrations", name + " deleted.");
          }) }),
        h("button", { type: "button", class: "secondary", text: "Cancel", onclick: () => { confirm.hidden = true; deleteToggle.focus(); } })));
    const deleteToggle = h("button", { type: "button", id: "delete-toggle", class: "secondary", text: "Delete integration",
      onclick: () => { confirm.hidden = false; confirm.querySelector("#delete-button").focus(); } });
    const agentToggle = h("button", { type: "button", id: "agent-live-toggle", class: "secondary",
      text: integration.agent_live ? "Stop agents' live calls" : "Allow agents' live calls",
      onclick: () => busy(agentToggle.parentNode, out, async () => {
        const after = await api("PUT", base + "/agent-access", { live: !integration.agent_live });
        navigate("#/integrations/" + enc(name), after.agent_live
          ? "Agents may now call " + name + " live (each call audited)."
          : "Agents' calls of " + name + " stay in sandbox.", true);
      }) });
    const steps = dependents.workflows.reduce((n, w) => n + w.steps.length, 0);
    return [
      h("h1", { text: integration.name }),
      h("p", { class: "lead" }, integration.provider + " · ", statusBadge(integration)),
      facts([
        ["Provider", integration.provider],
        ["Status", integration.needs_attention ? "needs attention: " + integration.needs_attention : "ready"],
        ["Credential fields set", integration.credential_fields.length ? integration.credential_fields.join(", ") : "none"],
        ["Credential version", "v" + integration.credential_version],
        ["Agents (MCP)", h("span", { id: "agent-access", text: integration.agent_live
          ? "may call it live, each call audited"
          : "sandbox only: nothing is sent" })],
        ["Settings", config.length ? h("ul", {}, config.map(([k, v]) => h("li", {}, h("code", { text: k }), " = ", h("code", { text: typeof v === "string" ? v : JSON.stringify(v) })))) : "none"],
        ["Created", when(integration.created_at)],
        ["Updated", when(integration.updated_at)],
      ]),
      h("h2", { id: "dependents-heading", text: "Dependents (" + steps + " step" + (steps === 1 ? "" : "s") + ")" }),
      dependentsList(dependents.workflows, "dependents"),
      h("h2", { text: "Actions" }),
      h("div", { class: "actions" },
        link("#/integrations/" + enc(name) + "/audit", "Audit trail", { id: "audit-link" }),
        rotateToggle, agentToggle, deleteToggle),
      rotateForm, confirm, out,
    ];
  }

  /** A 409 from DELETE: the workflows and steps that still use the integration. */
  function blastRadius(error) {
    const p = error.problem;
    return h("div", { class: "problem", id: "delete-problem", role: "alert" },
      h("h3", { text: "Delete refused (409): still in use" }),
      h("p", { text: p.detail || "" }),
      h("p", { text: "Blast radius:" }),
      dependentsList(p.workflows || [], "blast-radius"));
  }

  async function auditView(name) {
    const base = projectPath() + "/integrations/" + enc(name) + "/audit?limit=20";
    const body = h("tbody");
    const more = h("button", { type: "button", id: "audit-more", class: "secondary", text: "Load older records", hidden: true });
    let next = null;
    const load = async () => {
      const page = await api("GET", base + (next ? "&after=" + enc(next) : ""));
      for (const r of page.records) {
        body.append(h("tr", {},
          h("td", { text: when(r.at) }),
          h("td", {}, h("code", { text: r.purpose })),
          h("td", { text: r.outcome }),
          h("td", { text: "v" + r.credential_version }),
          h("td", {}, causeView(r.cause))));
      }
      next = page.next;
      more.hidden = !next;
      return page.records.length;
    };
    const back = link("#/integrations/" + enc(name), "Back to " + name);
    // The keyboard stays on the button while there is more, else moves on past it.
    more.addEventListener("click", () => busy(more.parentElement, null, load)
      .then(() => (more.hidden ? back : more).focus()));
    const count = await load();
    return [
      h("h1", { text: "Audit trail: " + name }),
      h("p", { class: "lead", text: "Every use of the credentials (decryptions, failures too), rotations and config changes, newest first. Read-only." }),
      count
        ? h("table", { id: "audit-records" },
          h("thead", {}, h("tr", {}, ["When", "Purpose", "Outcome", "Version", "Cause"].map((t) => h("th", { scope: "col", text: t })))),
          body)
        : h("p", { id: "audit-records", text: "No records yet: sandbox runs never open the credentials." }),
      h("div", { class: "actions" }, more),
      h("p", {}, back),
    ];
  }

  function causeView(cause) {
    if (!cause || typeof cause !== "object") return String(cause || "");
    return h("span", {}, Object.entries(cause).map(([k, v], i) => [
      i ? " · " : "",
      k + " ",
      k === "run" ? link("#/runs/" + enc(v), String(v))
        : k === "workflow" ? link("#/workflows/" + enc(v), String(v))
          : h("code", { text: typeof v === "string" ? v : JSON.stringify(v) }),
    ]));
  }

  // ---- Workflows ---------------------------------------------------------------

  /** Workflows have no list route; every step depends on an integration, so the
   *  dependents of all integrations name every workflow. */
  async function knownWorkflows() {
    const listed = await api("GET", projectPath() + "/integrations");
    const views = await Promise.all(listed.integrations.map((i) =>
      api("GET", projectPath() + "/integrations/" + enc(i.name) + "/dependents")));
    const byWorkflow = new Map();
    for (const view of views) {
      for (const w of view.workflows) {
        if (!byWorkflow.has(w.workflow)) byWorkflow.set(w.workflow, new Set());
        byWorkflow.get(w.workflow).add(view.integration);
      }
    }
    return Array.from(byWorkflow.entries()).sort(([a], [b]) => a.localeCompare(b));
  }

  /** `patient_name: string, patient_email: email` → `{patient_name: "string", ...}`. */
  function parseEntityFields(text) {
    const fields = {};
    for (const part of text.split(/[,\n]/)) {
      const trimmed = part.trim();
      if (!trimmed) continue;
      const m = /^([A-Za-z_][\w.]*)\s*[: ]\s*([A-Za-z-]+)$/.exec(trimmed);
      if (!m) throw new Error("\"" + trimmed + "\" is not name: type");
      fields[m[1]] = m[2];
    }
    return fields;
  }

  function compileForm(workflow) {
    const out = h("div");
    const form = h("form", { id: "compile-form", novalidate: true },
      field({ id: "compile-workflow", label: "Workflow", required: true, value: workflow || "", placeholder: "patient-intake",
        hint: "A new name starts a new workflow.", check: requiredCheck("A workflow name") }),
      field({ id: "compile-instruction", label: "The step in plain words", required: true, multiline: true, rows: 3,
        placeholder: "When the intake form is submitted, call the Postmark integration to send a confirmation email to the patient.",
        check: requiredCheck("An instruction") }),
      field({ id: "compile-entity", label: "Trigger entity", placeholder: "IntakeForm",
        hint: "The studio entity whose events start the workflow (step 1 sets it; later steps may leave it empty)." }),
      field({ id: "compile-fields", label: "Its fields", placeholder: "patient_name: string, patient_email: email, appointment_at: datetime",
        hint: "name: type, separated by commas; types: string, email, phone, datetime, date, number, integer, boolean, url.",
        check: (v) => { try { parseEntityFields(v); return null; } catch (e) { return e.message; } } }),
      field({ id: "compile-step", label: "Step number", type: "number", placeholder: "next",
        hint: "Empty adds the next step; an existing number recompiles that step." }),
      h("div", { class: "actions" }, h("button", { type: "submit", text: "Compile step" })),
      out);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!checkFields(form)) return;
      busy(form, out, async () => {
        const wf = form.querySelector("#compile-workflow").value.trim();
        const body = { instruction: form.querySelector("#compile-instruction").value.trim() };
        const entity = form.querySelector("#compile-entity").value.trim();
        const fields = parseEntityFields(form.querySelector("#compile-fields").value);
        if (entity) body.entity = { name: entity, fields };
        const step = form.querySelector("#compile-step").value.trim();
        if (step) body.step = Number(step);
        const contract = await api("POST", projectPath() + "/workflows/" + enc(wf) + "/steps/compile", body);
        navigate("#/workflows/" + enc(wf), "Step " + contract.step + " compiled: " + contract.integration + " · " + contract.operation + ".", true);
      });
    });
    return form;
  }

  async function workflowsView() {
    const known = await knownWorkflows();
    const openOut = h("div");
    const openForm = h("form", { id: "open-workflow", novalidate: true },
      field({ id: "open-workflow-name", label: "Workflow name", required: true, check: requiredCheck("A name") }),
      h("div", { class: "actions" }, h("button", { type: "submit", text: "Open workflow" })), openOut);
    openForm.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!checkFields(openForm)) return;
      navigate("#/workflows/" + enc(openForm.querySelector("#open-workflow-name").value.trim()));
    });
    return [
      h("h1", { text: "Workflows" }),
      known.length
        ? h("ul", { id: "workflows" }, known.map(([w, integrations]) => h("li", {},
          link("#/workflows/" + enc(w), w), " — uses " + Array.from(integrations).join(", "))))
        : h("p", { text: "No workflow yet: compile a first step." }),
      h("h2", { text: "Compile a step" }),
      compileForm(""),
      h("h2", { text: "Open a workflow by name" }),
      openForm,
    ];
  }

  function triggerText(trigger) {
    if (!trigger) return "—";
    if (trigger.kind === "agent") return "An agent called " + trigger.tool;
    if (trigger.kind === "entity") return "When " + trigger.entity + " is " + trigger.event;
    if (trigger.kind === "data_change") {
      const conditions = (trigger.conditions || []).map((c) => c.field + " = " + JSON.stringify(c.equals)).join(" and ");
      return "When " + trigger.integration + " reports " + trigger.entity_type + " " + trigger.change + (conditions ? " where " + conditions : "");
    }
    return JSON.stringify(trigger);
  }

  function schemaDetails(title, schema) {
    return h("details", {}, h("summary", { text: title }), h("pre", { text: pretty(schema) }));
  }

  function stepCard(workflow, contract, last) {
    const out = h("div");
    const mapping = Object.entries(contract.input_mapping || {});
    const confirm = h("div", { class: "actions", hidden: true },
      h("span", { text: "Remove step " + contract.step + " and its dependency edges?" }),
      h("button", { type: "button", class: "danger", text: "Remove step " + contract.step,
        onclick: () => busy(confirm, out, async () => {
          await api("DELETE", projectPath() + "/workflows/" + enc(workflow) + "/steps/" + contract.step);
          // Removing the last step removes the workflow.
          if (last) navigate("#/workflows", "Step " + contract.step + " removed, and with it " + workflow + ".");
          else navigate("#/workflows/" + enc(workflow), "Step " + contract.step + " removed.", true);
        }) }),
      h("button", { type: "button", class: "secondary", text: "Cancel", onclick: () => { confirm.hidden = true; } }));
    return h("article", { class: "card contract", "data-step": contract.step },
      h("div", { class: "step-head" },
        h("h2", { text: "Step " + contract.step + ": " + contract.operation + " on " + contract.integration }),
        h("span", { class: "badge", text: contract.outbound ? "outbound" : "no outbound call" })),
      facts([
        ["Trigger", triggerText(contract.trigger)],
        ["Integration", link("#/integrations/" + enc(contract.integration), contract.integration)],
        ["Provider", contract.provider],
        ["Operation", h("code", { text: contract.operation })],
      ]),
      h("h3", { text: "Input mapping" }),
      mapping.length
        ? h("table", { class: "mapping" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Input" }), h("th", { scope: "col", text: "Value or template" }))),
          h("tbody", {}, mapping.map(([k, v]) => h("tr", {},
            h("td", {}, h("code", { text: k })),
            h("td", {}, h("pre", { text: typeof v === "string" ? v : pretty(v) }))))))
        : h("p", { text: "No inputs." }),
      schemaDetails("Input schema (the trigger's fields)", contract.input_schema),
      schemaDetails("Output schema (what later steps may map)", contract.output_schema),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", text: "Remove step " + contract.step + "…",
          onclick: () => { confirm.hidden = false; confirm.querySelector("button").focus(); } })),
      confirm, out);
  }

  function payloadField(name, schema, required) {
    const format = schema.format;
    const type = schema.type;
    const placeholder = format === "date-time" ? "2026-12-01T10:00:00Z"
      : format === "date" ? "2026-12-01" : format === "email" ? "ada@example.com" : undefined;
    const wrap = field({
      id: "payload-" + name,
      name,
      label: name,
      required,
      type: format === "email" ? "email" : type === "number" || type === "integer" ? "number" : "text",
      choices: type === "boolean" ? ["true", "false"] : null,
      placeholder,
      rules: [type + (format ? " (" + format + ")" : "")],
      check: required ? requiredCheck(name) : null,
    });
    wrap.dataset.type = type || "string";
    wrap.dataset.name = name;
    return wrap;
  }

  function runForm(workflow, view) {
    const out = h("div");
    const trigger = view.trigger || {};
    if (trigger.kind !== "entity") {
      return h("p", { text: "This workflow starts when its integration reports a change (" + triggerText(trigger) + "); its runs come from the provider's webhooks." });
    }
    const first = view.steps[0] || {};
    const schema = first.input_schema || {};
    const required = new Set(schema.required || []);
    const props = Object.entries(schema.properties || {});
    const form = h("form", { id: "run-form", novalidate: true },
      h("fieldset", {}, h("legend", { text: "Mode" }),
        h("div", { class: "choices" },
          h("label", {}, h("input", { type: "radio", name: "mode", id: "mode-sandbox", value: "sandbox", checked: true }), " Sandbox: build the request, send nothing"),
          h("label", {}, h("input", { type: "radio", name: "mode", id: "mode-live", value: "live" }), " Live: send it"))),
      h("fieldset", {}, h("legend", { text: trigger.entity + " " + trigger.event + ": its fields" }),
        props.length ? props.map(([name, s]) => payloadField(name, s, required.has(name))) : h("p", { text: "No fields." })),
      h("div", { class: "actions" }, h("button", { type: "submit", text: "Start run" })),
      out);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!checkFields(form)) return;
      busy(form, out, async () => {
        const payload = {};
        for (const wrap of form.querySelectorAll(".field[data-name]")) {
          const raw = wrap.querySelector("input, select").value;
          if (raw === "") continue;
          const type = wrap.dataset.type;
          payload[wrap.dataset.name] = type === "number" || type === "integer" ? Number(raw) : type === "boolean" ? raw === "true" : raw;
        }
        const mode = form.querySelector("input[name=mode]:checked").value;
        const run = await api("POST", projectPath() + "/runs", {
          workflow, mode, trigger: { entity: trigger.entity, event: trigger.event, payload },
        });
        navigate("#/runs/" + enc(run.id), "Run " + run.status + " (" + mode + ").");
      });
    });
    return form;
  }

  /** Runs as a table, newest first; an agent's runs name the tool it called. */
  function runsTable(runs, tools) {
    if (!runs.length) return h("p", { text: "No runs yet." });
    const heads = ["Run"].concat(tools ? ["Tool"] : [], ["Mode", "Status", "Started", "Took"]);
    return h("table", { id: "runs" },
      h("thead", {}, h("tr", {}, heads.map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, runs.map((r) => h("tr", {},
        h("td", {}, link("#/runs/" + enc(r.id), r.id)),
        tools ? h("td", {}, h("code", { text: r.tool || "" })) : null,
        h("td", { text: r.mode }),
        h("td", {}, h("span", { class: "badge " + (r.status === "succeeded" ? "ok" : r.status === "failed" ? "failed" : ""), text: r.status })),
        h("td", { text: when(r.started_at) }),
        h("td", { text: r.finished_at ? took(r.started_at, r.finished_at) : "—" })))));
  }

  /** Agents: how to connect one to the project's MCP server, and the calls they made. */
  async function agentsView() {
    const runs = await api("GET", projectPath() + "/runs?limit=50&source=agent");
    const url = location.origin + projectPath() + "/mcp";
    return [
      h("h1", { text: "Agents" }),
      h("p", { class: "lead", text: "AI agents call the project's integrations as MCP tools, one per operation. Calls run in sandbox unless an integration allows agents live calls." }),
      facts([
        ["MCP server", h("code", { id: "mcp-url", text: url })],
        ["Transport", "Streamable HTTP (POST), stateless"],
        ["Header", h("code", { text: "Authorization: Bearer <the project token>" })],
      ]),
      h("h2", { text: "Calls (newest first)" }),
      runsTable(runs.runs, true),
    ];
  }

  async function workflowView(workflow) {
    const [view, runs] = await Promise.all([
      api("GET", projectPath() + "/workflows/" + enc(workflow)),
      api("GET", projectPath() + "/runs?limit=10&workflow=" + enc(workflow)),
    ]);
    return [
      h("h1", { text: "Workflow " + workflow }),
      h("p", { class: "lead", text: triggerText(view.trigger) + " · " + view.steps.length + " step" + (view.steps.length === 1 ? "" : "s") }),
      view.steps.map((contract) => stepCard(workflow, contract, view.steps.length === 1)),
      h("h2", { text: "Run it" }),
      runForm(workflow, view),
      h("h2", { text: "Recent runs" }),
      runsTable(runs.runs, false),
      h("h2", { text: "Compile another step" }),
      compileForm(workflow),
    ];
  }

  // ---- Runs --------------------------------------------------------------------

  const EFFECTS = {
    would_have_sent: ["Would have sent", "would-have-sent"],
    sent: ["Sent", "sent"],
    failed: ["Failed", "failed"],
    skipped: ["Skipped", ""],
    cached: ["Cached", "sent"],
  };

  function marker(effect) {
    const [text, cls] = EFFECTS[effect] || [String(effect), ""];
    return h("span", { class: "badge marker " + cls, text });
  }

  /** A body as sent: JSON pretty-printed, anything else exactly as it is. */
  function bodyText(request) {
    if (request.body_json !== undefined && request.body_json !== null) return pretty(request.body_json);
    if (typeof request.body === "string") {
      try { return pretty(JSON.parse(request.body)); } catch (_) { return request.body; }
    }
    if (request.body !== undefined && request.body !== null) return pretty(request.body);
    return null;
  }

  function requestView(request, id) {
    if (!request) return h("p", { text: "The step failed before its request was built." });
    const body = bodyText(request);
    return [
      h("p", { class: "request-line", id: id + "-line" }, request.method + " " + request.url),
      h("table", { class: "headers", id: id + "-headers" },
        h("caption", { class: "muted", text: "Headers, credentials masked as stored" }),
        h("tbody", {}, (request.headers || []).map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, h("code", { text: k })), h("td", {}, h("code", { text: v })))))),
      body === null ? h("p", { text: "No body." }) : [
        h("p", { class: "muted", text: "Body" + (request.body_json !== undefined && request.body_json !== null ? " (JSON, pretty-printed)" : "") }),
        h("pre", { id: id + "-body", class: "body", text: body }),
        typeof request.body === "string" && request.body !== body
          ? h("details", {}, h("summary", { text: "The exact bytes" }), h("pre", { id: id + "-raw", text: request.body }))
          : null,
      ],
    ];
  }

  function responseView(response, id) {
    if (!response) return h("p", { id: id + "-status", text: "No response: nothing answered." });
    const notes = [];
    if (response.mock) notes.push("mock response (sandbox: generated from the operation's response schema)");
    if (response.attempts) notes.push(response.attempts + " attempt" + (response.attempts === 1 ? "" : "s"));
    return [
      h("p", { id: id + "-status" }, h("strong", { text: "Status " + response.status }), notes.length ? " · " + notes.join(" · ") : ""),
      response.body === undefined || response.body === null
        ? h("p", { text: "No body." })
        : h("pre", { id: id + "-body", class: "body", text: typeof response.body === "string" ? response.body : pretty(response.body) }),
    ];
  }

  function extraCall(call, id, title) {
    return h("div", { class: "card" },
      h("div", { class: "step-head" }, h("h4", { text: title }), marker(call.cached ? "cached" : call.effect)),
      call.id ? h("p", {}, "id: ", h("code", { text: String(call.id) })) : null,
      call.status ? h("p", { text: "Status " + call.status }) : null,
      call.request ? requestView(call.request, id) : null,
      call.response ? responseView(call.response, id + "-response") : null);
  }

  function stepTrace(step) {
    const id = "step-" + step.step;
    return h("article", { class: "card step", "data-step": step.step, "data-effect": step.effect },
      h("div", { class: "step-head" },
        h("h3", { text: "Step " + step.step + " · " + step.operation }),
        marker(step.effect),
        h("span", { class: "timing" }, "started " + when(step.started_at) + " · took " + took(step.started_at, step.finished_at))),
      h("p", {}, "Integration ", link("#/integrations/" + enc(step.integration), step.integration, { id: id + "-integration" })),
      step.error ? h("p", { class: "problem", text: step.error }) : null,
      (step.lookups || []).map((l, i) => extraCall(l, id + "-lookup-" + i, "Looked up " + l.kind + " \"" + l.name + "\" first")),
      step.fetched ? extraCall(step.fetched, id + "-fetched", "Read the changed entity first") : null,
      h("h4", { text: step.effect === "would_have_sent" ? "Request it would have sent" : "Request" }),
      requestView(step.request, id + "-request"),
      h("h4", { text: "Response" }),
      responseView(step.response, id + "-response"));
  }

  async function runView(runId) {
    const run = await api("GET", projectPath() + "/runs/" + enc(runId));
    const statusClass = run.status === "succeeded" ? "ok" : run.status === "failed" ? "failed" : "";
    const refresh = run.finished_at ? null : h("button", { type: "button", class: "secondary", text: "Refresh", onclick: () => render() });
    return [
      h("h1", { text: "Run trace" }),
      h("p", { class: "lead" },
        run.source === "agent"
          ? h("span", { id: "run-origin" }, link("#/agents", "Agent"), " · ", h("code", { text: run.tool }))
          : link("#/workflows/" + enc(run.workflow), run.workflow), " · ",
        h("span", { class: "badge", text: run.mode }), " ", h("span", { class: "badge " + statusClass, text: run.status })),
      facts([
        ["Run", h("code", { text: run.id })],
        ["Mode", run.mode === "sandbox" ? "sandbox: nothing was sent" : "live"],
        ["Status", run.status],
        ["Started", when(run.started_at)],
        ["Finished", run.finished_at ? when(run.finished_at) : "not yet"],
        ["Took", run.finished_at ? took(run.started_at, run.finished_at) : "—"],
      ]),
      refresh,
      h("details", {}, h("summary", { text: "Trigger: " + triggerText(run.trigger) }), h("pre", { text: pretty(run.trigger) })),
      h("h2", { text: "Steps" }),
      (run.steps || []).length ? run.steps.map(stepTrace) : h("p", { text: "No step has run yet." }),
    ];
  }

  function projectView() {
    if (!session.project) return startView();
    const signOut = h("button", { type: "button", id: "sign-out", class: "secondary", text: "Forget the token in this tab",
      onclick: () => { session.close(); navigate("#/", "The token is forgotten in this tab."); } });
    return [
      h("h1", { text: "Project " + (session.name || "") }),
      facts([["Project id", h("code", { text: session.project })], ["Name", session.name || "—"], ["Token", "kept in this tab's sessionStorage; never shown again"]]),
      h("div", { class: "actions" }, signOut),
    ];
  }

  // ---- Routing -----------------------------------------------------------------

  const ROUTES = [
    [/^#\/integrations$/, integrationsView],
    [/^#\/integrations\/new$/, addIntegrationView],
    [/^#\/integrations\/([^/]+)$/, integrationView],
    [/^#\/integrations\/([^/]+)\/audit$/, auditView],
    [/^#\/workflows$/, workflowsView],
    [/^#\/workflows\/([^/]+)$/, workflowView],
    [/^#\/runs\/([^/]+)$/, runView],
    [/^#\/agents$/, agentsView],
    [/^#\/project$/, projectView],
  ];

  function updateChrome() {
    nav.hidden = !session.project;
    badge.textContent = session.project ? "Project: " + (session.name || session.project) : "";
  }

  /** Goes to a view, with a message to show once it is there. */
  function navigate(hash, message, keepPlace) {
    pendingMessage = message || null;
    if (location.hash === hash) render(keepPlace);
    else location.hash = hash;
  }

  async function render(keepPlace) {
    const mine = ++generation;
    updateChrome();
    const hash = location.hash || "#/";
    messages.replaceChildren();
    if (pendingMessage) say(pendingMessage);
    pendingMessage = null;
    let view = null;
    let params = [];
    if (session.project) {
      for (const [pattern, fn] of ROUTES) {
        const m = pattern.exec(hash);
        if (m) { view = fn; params = m.slice(1).map(decodeURIComponent); break; }
      }
      if (!view) {
        if (hash !== "#/integrations") { location.replace("#/integrations"); return; }
      }
    } else {
      view = startView;
    }
    const y = window.scrollY;
    main.setAttribute("aria-busy", "true");
    let content;
    try {
      content = await view(...params);
    } catch (error) {
      content = [h("h1", { text: "Could not load this view" }), problemView(error)];
      updateChrome();
    }
    if (mine !== generation) return;
    main.replaceChildren(...[content].flat(Infinity).filter(Boolean));
    main.removeAttribute("aria-busy");
    // Focus starts from the view's heading, so the next Tab is the view's first control;
    // after an action on the same view the page stays where it was.
    const heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: Boolean(keepPlace) });
    }
    if (keepPlace) window.scrollTo(0, y);
  }

  window.addEventListener("hashchange", () => {
    // "#main" and other in-page anchors are not views.
    if (location.hash === "" || location.hash.startsWith("#/")) render();
  });
  document.querySelector(".skip").addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
  render();
})();
