/* teamcost dashboard: renders what the API returns, refreshes on Server-Sent Events.
 *
 * Rules kept here: every number comes from the API (the library's own figures); money
 * is integer nano-dollars shown through ONE function, money(); the DOM is built with
 * createElement / textContent / setAttribute, never innerHTML, so a label such as
 * "<img src=x onerror=alert(1)>" is text; no inline script or style (the CSP forbids
 * both), so sizes and colours are SVG attributes.
 */
(function () {
  "use strict";

  // matplotlib's tab10, as teamcost/reports/chart.py: the same series, the same colours
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var OTHER = "other";
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  var TABLE_ROWS = 100;
  var SVG_NS = "http://www.w3.org/2000/svg";

  // ---- money: the one formatter --------------------------------------------------------

  /* Dollars from integer nano-dollars, rounded half-even exactly (BigInt arithmetic, no
   * float), by the rule of teamcost.money.format_usd: cents from $1 up (and for zero),
   * three significant digits below (trailing zeros dropped down to cents), so the page and
   * the CLI print the same digits for the same amount. ``places`` fixes the decimals. */
  function money(nanos, places) {
    var n;
    if (typeof nanos === "bigint") n = nanos;
    else if (typeof nanos === "number" && isFinite(nanos)) n = BigInt(Math.round(nanos));
    else return "–";
    var neg = n < 0n;
    if (neg) n = -n;
    var strip = false;
    if (places === undefined) {
      places = 2;
      if (n > 0n && n < 1000000000n) {
        places = Math.min(9, 12 - n.toString().length);   // 3 significant digits
        strip = true;
        if (roundTo(n, places) >= 10n ** BigInt(places)) { places = 2; strip = false; }
      }
    }
    var digits = roundTo(n, places).toString();
    while (digits.length < places + 1) digits = "0" + digits;
    var whole = digits.slice(0, digits.length - places);
    var frac = digits.slice(digits.length - places);
    if (strip) frac = frac.replace(/0+$/, "").padEnd(2, "0");
    whole = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (neg ? "-" : "") + "$" + whole + (places > 0 ? "." + frac : "");
  }

  /* nanos as an integer count of 10^-places dollars, half-even */
  function roundTo(n, places) {
    var unit = 10n ** BigInt(9 - places);
    var q = n / unit, r = n % unit;
    if (r * 2n > unit || (r * 2n === unit && q % 2n === 1n)) q += 1n;
    return q;
  }
  window.teamcostMoney = money;  // the tests check it against exact decimal rounding

  function num(x) { return typeof x === "bigint" ? Number(x) : (x || 0); }
  function count(n) { return Number(n || 0).toLocaleString("en-US"); }
  function pct(x) { return x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%"; }

  // ---- DOM helpers: text only ---------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function h(tag, attrs) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function s(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "class") node.setAttribute("class", v);
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, String(v));
    });
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function setText(id, text) { $(id).textContent = text; }

  // ---- state and the address bar --------------------------------------------------------

  var params = new URLSearchParams(location.search);
  // the filters (query parameters of the address and the API): a label each, or a tag
  var FILTERS = ["member", "model", "agent", "repo", "branch", "ticket"];
  var state = {
    since: params.get("since") || "7d",
    until: params.get("until") || null,
    win: params.get("window") || null,
    stack: params.get("stack") || "member",
    tab: params.get("tab") || "member",
    filters: { member: params.get("member"), model: params.get("model"),
               agent: params.get("agent"), repo: params.get("repo"),
               branch: params.get("branch"), ticket: params.get("ticket") },
    known: { member: {}, model: {}, agent: {}, repo: {}, branch: {}, ticket: {} },
    sort: {},
    showAll: false,
    report: null, chart: null, live: null, tags: null, alerts: null,
    calls: [], cursor: null,
    seq: 0, loading: false, again: false, renders: 0, session: null
  };
  if (!state.win) state.win = { "24h": "24h", "7d": "7d", "30d": "30d" }[state.since] ||
    (state.until ? "custom" : "custom");

  function saveAddress() {
    var p = new URLSearchParams();
    p.set("since", state.since);
    if (state.until) p.set("until", state.until);
    p.set("window", state.win);
    FILTERS.forEach(function (k) {
      if (state.filters[k]) p.set(k, state.filters[k]);
    });
    p.set("stack", state.stack);
    p.set("tab", state.tab);
    history.replaceState(null, "", "?" + p.toString());
  }

  function windowQuery() {
    var p = new URLSearchParams();
    p.set("since", state.since);
    if (state.until) p.set("until", state.until);
    FILTERS.forEach(function (k) {
      if (state.filters[k]) p.set(k, state.filters[k]);
    });
    return p;
  }

  // ---- the API --------------------------------------------------------------------------

  // nano-dollar integers beyond 2^53 stay exact where the browser gives the source text
  function reviver(key, value, context) {
    if (typeof value === "number" && /_nanos$/.test(key) && !Number.isSafeInteger(value) &&
        context && typeof context.source === "string" && /^-?\d+$/.test(context.source)) {
      return BigInt(context.source);
    }
    return value;
  }

  function getJSON(path) {
    return fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        return resp.text().then(function (text) {
          var body;
          try { body = JSON.parse(text, reviver); } catch (e) { body = { error: text }; }
          if (!resp.ok) {
            var err = new Error((body && body.error) || (resp.status + " " + resp.statusText));
            err.status = resp.status;
            throw err;
          }
          return body;
        });
      });
  }

  function showError(err) {
    var box = $("error");
    if (!err) { box.hidden = true; clear(box); return; }
    box.textContent = err.message || String(err);
    box.hidden = false;
  }

  // ---- loading --------------------------------------------------------------------------

  /* One load at a time; asking again while one runs makes the running one's answer
   * stale (the window or filters changed, or new calls arrived): it is dropped and the
   * load runs again, so the page never shows one window's numbers under another's name. */
  function load() {
    if (state.loading) { state.again = true; return Promise.resolve(); }
    state.loading = true;
    state.again = false;
    var seq = ++state.seq;
    var since = state.since;
    var wq = windowQuery();
    var rq = new URLSearchParams(wq);
    rq.set("by", "member,model,agent,provider,session,repo,branch,ticket,pr");
    var cq = new URLSearchParams(wq);
    cq.set("stack", state.stack);
    return Promise.all([getJSON("/api/report?" + rq), getJSON("/api/chart?" + cq),
                        getJSON("/api/live")])
      .then(function (got) {
        if (seq !== state.seq || state.again) return;
        state.report = got[0]; state.chart = got[1]; state.live = got[2];
        document.body.setAttribute("data-since", since);
        showError(null);
        renderAll();
        rendered();
        if (state.chart.by !== state.stack) loadChart();  // the stack changed meanwhile
        return loadSecondary(seq);
      })
      .catch(function (err) { showError(err); rendered(); })
      .then(function () {
        state.loading = false;
        if (state.again) { state.again = false; return load(); }
      });
  }

  // what is not needed to read the page's main numbers follows the first render
  function loadSecondary(seq) {
    var tq = windowQuery();
    tq.set("key", "project");
    return Promise.all([
      getJSON("/api/tags?" + tq).then(function (t) { state.tags = t; })
        .catch(function (e) { state.tags = { rows: [], error: e.message }; }),
      getJSON("/api/calls?limit=25").then(function (p) {
        state.calls = p.calls; state.cursor = p.next_cursor;
      }).catch(function () { /* the table says nothing new */ }),
      getJSON("/api/alerts").then(function (a) { state.alerts = a.alerts; })
        .catch(function (e) { state.alerts = null; state.alertsError = e.message; })
    ]).then(function () {
      if (seq !== state.seq) return;
      if (state.tab === "project") renderTable();
      renderCalls();
      renderNotes();
      document.body.setAttribute("data-secondary", String(seq));
    });
  }

  function loadChart() {
    var cq = windowQuery();
    cq.set("stack", state.stack);
    var seq = state.seq;
    return getJSON("/api/chart?" + cq).then(function (c) {
      if (seq !== state.seq || c.by !== state.stack) return;
      state.chart = c;
      renderChart();
      rendered();
    }).catch(showError);
  }

  function rendered() {
    state.renders += 1;
    document.body.setAttribute("data-renders", String(state.renders));
    if (!window.teamcostReadyAt) {
      window.teamcostReadyAt = performance.now();
      document.body.setAttribute("data-ready", "1");
    }
  }

  var refreshTimer = null;
  function scheduleRefresh() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(function () { refreshTimer = null; load(); }, 200);
  }

  // ---- rendering ------------------------------------------------------------------------

  function renderAll() {
    renderHeader();
    renderControls();
    renderCards();
    renderChart();
    renderNotes();
    renderTable();
  }

  function zoneTime(iso, withDate) {
    var tz = (state.report && state.report.window.timezone) || "UTC";
    var opts = { timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit",
                 hour12: false };
    if (withDate) { opts.year = "numeric"; opts.month = "2-digit"; opts.day = "2-digit"; }
    try {
      return new Intl.DateTimeFormat("en-CA", opts).format(new Date(iso)).replace(",", "");
    } catch (e) { return iso; }
  }

  function renderHeader() {
    var r = state.report;
    setText("team", "team " + r.team + " · " + (r.source === "team" ? "team cache" : "local ledger") +
            " · " + r.window.timezone);
    setText("updated", "updated " + zoneTime(r.generated_at, false));
  }

  function renderControls() {
    Array.prototype.forEach.call(document.querySelectorAll("#windows button"), function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-window") === state.win));
    });
    Array.prototype.forEach.call(document.querySelectorAll("#stacks button"), function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-stack") === state.stack));
    });
    Array.prototype.forEach.call(document.querySelectorAll("#tabs button"), function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-tab") === state.tab));
    });
    $("custom").hidden = state.win !== "custom";
    var bd = state.report ? state.report.breakdowns : {};
    FILTERS.forEach(function (dim) {
      (bd[dim] || []).forEach(function (row) {
        if (row[dim] !== "(none)") state.known[dim][row[dim]] = true;
      });
      var sel = $("f-" + dim);
      var current = state.filters[dim] || "";
      clear(sel);
      sel.appendChild(h("option", { value: "" }, "all"));
      Object.keys(state.known[dim]).sort().forEach(function (k) {
        sel.appendChild(h("option", { value: k }, k));
      });
      if (current && !state.known[dim][current]) sel.appendChild(h("option", { value: current }, current));
      sel.value = current;
    });
  }

  function renderCards() {
    var r = state.report, live = state.live, sm = r.summary;
    // today: the live snapshot (what is stored now, same sources as the report)
    setText("today-cost", money(live.today_nanos));
    setText("today-sub", count(live.today_calls) + " calls · last hour " +
            money(live.last_hour_nanos) + " · " + money(live.rate_nanos_per_hour) + "/hour this " +
            live.period);

    // the budget period: the budget check's own figures; offline, the last known budget
    // against what is stored (the live snapshot's own figures)
    var b = r.budget, meter = clear($("budget-meter"));
    clear($("budget-level"));
    var sub = clear($("budget-sub"));
    clear($("budget-of"));
    $("card-budget").removeAttribute("data-state");
    if (b && !b.error) {
      setText("budget-title", "Budget · " + b.period + " " + b.period_key);
      setText("budget-spent", money(b.spent_nanos));
      append($("budget-of"), "of " + money(b.limit_nanos) + " · " + pct(b.fraction));
      append(clear($("budget-level")), h("span", { class: "level " + b.level }, b.level));
      budgetMeter(meter, b.spent_nanos, b.limit_nanos, b.projected_nanos, b.level);
      append(sub, [h("span", { class: "line", id: "budget-projected" },
                     "projected " + money(b.projected_nanos) + " by " + b.period + " end" +
                     " (" + pct(num(b.projected_nanos) / (num(b.limit_nanos) || 1)) + ")"),
                   h("span", { class: "line" }, (num(b.remaining_nanos) >= 0 ? "remaining " +
                     money(b.remaining_nanos) : "over by " + money(-num(b.remaining_nanos))))]);
    } else if (b && b.error) {
      $("card-budget").setAttribute("data-state", "unknown");
      var since = b.offline_since || live.offline_since;
      var offline = "Firestore not answering" + (since ? " since " + zoneTime(since, false) : "");
      append(clear($("budget-level")), h("span", { class: "level OFFLINE", title: b.error }, "OFFLINE"));
      if (live.limit_nanos !== null && live.limit_nanos !== undefined) {
        setText("budget-title", "Budget · this " + live.period);
        setText("budget-spent", money(live.period_nanos));
        append($("budget-of"), "of " + money(live.limit_nanos) + " · " + pct(live.used_fraction));
        budgetMeter(meter, live.period_nanos, live.limit_nanos, live.projected_nanos, "UNKNOWN");
        append(sub, [h("span", { class: "line", id: "budget-projected" }, "projected " +
                       money(live.projected_nanos) + " by " + live.period + " end"),
                     h("span", { class: "line", title: b.error },
                       "last known budget" + (live.budget_read_at ? ", read " +
                         zoneTime(live.budget_read_at, false) : "") + " · " + offline)]);
      } else {
        setText("budget-title", "Budget");
        setText("budget-spent", "unknown");
        append(sub, h("span", { class: "line", title: b.error },
                      offline + "; no budget read on this machine yet"));
      }
    } else {
      setText("budget-title", "Budget · this " + live.period);
      setText("budget-spent", money(live.period_nanos));
      append($("budget-of"), "spent, no budget set");
      append(sub, h("span", { class: "line" }, "projected " + money(live.projected_nanos) +
                    " by " + live.period + " end · set one with teamcost budget set"));
    }

    // the window: the report's summary
    var label = { "24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days",
                  month: "This month" }[state.win] || r.window.label;
    setText("window-title", label);
    setText("window-cost", money(sm.cost_nanos));
    var wsub = clear($("window-sub"));
    append(wsub, [h("span", { class: "line" }, r.window.label.replace("..", " to ") + " · " +
                    count(sm.calls) + " calls"),
                  h("span", { class: "line" }, sm.members + " members · " + sm.models + " models · " +
                    count(sm.sessions) + " sessions"),
                  h("span", { class: "line" }, money(r.rate.per_day_nanos) + "/day · " +
                    money(r.rate.per_hour_nanos) + "/hour")]);

    renderPays(r);

    var hsub = clear($("health-sub"));
    append(clear($("health-big")), [count(sm.unpriced_calls), h("span", { class: "of" }, " unpriced  "),
                                    count(sm.failed_calls), h("span", { class: "of" }, " failed")]);
    append(hsub, [h("span", { class: "line" + (sm.unpriced_calls ? " warn" : "") },
                    sm.unpriced_calls ? "unpriced: " + sm.unpriced_models.join(", ") +
                      " (not in the totals)" : "every call has a price"),
                  h("span", { class: "line" + (sm.failed_calls ? " bad" : "") },
                    "success rate " + pct(sm.success_rate))]);
  }

  /* What the team pays, as `teamcost report`'s pays line (commands/billing_view.py): shown
   * when the team has seats or plan usage (or its plans could not be read), so a team that
   * pays per call sees the page it always did. Three numbers, never summed into one. */
  function billingShown(sm) {
    return Boolean(num(sm.seats_nanos) || num(sm.plan_usage_nanos) || sm.plans === "unknown");
  }

  function renderPays(r) {
    var sm = r.summary, box = $("pays");
    if (!billingShown(sm)) { box.hidden = true; return; }
    box.hidden = false;
    setText("pays-metered", money(sm.metered_nanos));
    setText("pays-seats", money(sm.seats_nanos));
    setText("pays-plan", money(sm.plan_usage_nanos));
    var rules = sm.billing_rules || {};
    var counted = Object.keys(rules).filter(function (k) { return rules[k]; })
      .map(function (k) { return count(rules[k]) + " by " + k; }).join(", ");
    var psub = clear($("pays-plan-sub"));
    append(psub, [h("span", { class: "line" }, "at list price: covered by seats, not spend"),
                  counted ? h("span", { class: "line", id: "pays-rules" },
                              "calls classified " + counted) : null,
                  sm.plans === "unknown" ? h("span", { class: "line warn" },
                    "the team's plans are unknown: untagged calls counted as metered") : null]);
  }

  /* The bar is the budget: full width is the limit. Spend fills it (all of it once over);
   * the projection is a tick on it, or an arrow at its end when it lands past the limit. */
  function budgetMeter(meter, spent, limit, projected, level) {
    var lim = num(limit) || 1;
    var x = function (v) { return Math.max(0, Math.min(300, 300 * num(v) / lim)); };
    var fill = { OK: "#1a7f37", WARN: "#dc6803", EXHAUSTED: "#d92d20" }[level] || "#667085";
    meter.setAttribute("data-scale", "limit");
    meter.appendChild(s("rect", { x: 0, y: 3, width: 300, height: 8, rx: 4, fill: "#eaecf0" },
                        s("title", null, "budget " + money(limit))));
    meter.appendChild(s("rect", { class: "spent", x: 0, y: 3, width: x(spent).toFixed(2), height: 8,
                                  rx: 4, fill: fill, "data-nanos": String(spent) },
                        s("title", null, "spent " + money(spent))));
    var p = x(projected), past = num(projected) > lim;
    var mark = past ? s("path", { class: "projected past", d: "M291 0 L300 7 L291 14 Z", fill: "#344054",
                                  "data-nanos": String(projected) })
                    : s("rect", { class: "projected", x: Math.min(298, p).toFixed(2), y: 0, width: 2,
                                  height: 14, fill: "#344054", "data-nanos": String(projected) });
    mark.appendChild(s("title", null, "projected " + money(projected) + (past ? ", past the budget" : "")));
    meter.appendChild(mark);
  }

  function dayLabel(iso) {
    var p = iso.split("-");
    return MONTHS[Number(p[1]) - 1] + " " + Number(p[2]);
  }

  function niceStep(raw) {
    if (raw <= 0) return 1;
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * mag >= raw) return steps[i] * mag;
    return 10 * mag;
  }


  /* Each series' colour from its name, not its rank: a member keeps their colour from the
   * 7-day view to the 30-day one. Names are placed in name order, each on the palette slot
   * its hash picks or the next free one, so the same names always get the same colours. */
  function hashSlot(key) {
    var x = 2166136261;
    for (var i = 0; i < key.length; i++) { x ^= key.charCodeAt(i); x = Math.imul(x, 16777619) >>> 0; }
    return x % PALETTE.length;
  }

  function colours(keys) {
    var taken = {}, out = {};
    keys.filter(function (k) { return k !== OTHER; }).slice().sort().forEach(function (key) {
      var slot = hashSlot(key), tries = 0;
      while (taken[slot] && tries < PALETTE.length) { slot = (slot + 1) % PALETTE.length; tries++; }
      taken[slot] = true;
      out[key] = PALETTE[slot];
    });
    out[OTHER] = "#bbbbbb";
    return out;
  }

  function renderChart() {
    var c = state.chart, r = state.report, box = clear($("chart"));
    setText("chart-title", "Spend per day by " + c.by + " (" + c.tz + ")");
    var keys = Object.keys(c.series), hue = colours(keys);
    // the rest of the period as dashed bars only when it is shorter than the window: a 7-day
    // window ahead of 25 projected days would be mostly projection (the legend says it)
    var days = c.days, proj = c.projection_days || [];
    if (proj.length > days.length) proj = [];
    var width = Math.max(480, box.clientWidth || 900), height = 300;
    var left = 64, right = 16, top = 22, bottom = 34;
    var plotW = width - left - right, plotH = height - top - bottom;
    var svg = s("svg", { viewBox: "0 0 " + width + " " + height, role: "img",
                         "aria-label": "Spend per day by " + c.by, id: "chart-svg",
                         "data-days": days.length, "data-stack": c.by });
    // geometry only: bar heights; every amount shown comes from the API
    var totals = days.map(function (_, i) {
      return keys.reduce(function (acc, k) { return acc + num(c.series[k][i]); }, 0);
    });
    var peak = Math.max.apply(null, totals.concat([num(c.projected_daily_nanos),
                                                   num(c.daily_allowance_nanos), 1]));
    var step = niceStep(peak * 1.08 / 5);
    var ticks = Math.max(1, Math.ceil(peak * 1.08 / step));
    var scale = plotH / (step * ticks);
    var slot = plotW / Math.max(1, days.length + proj.length);
    var barW = Math.max(1, slot * 0.78);
    // as few decimal places as show every tick exactly ($0.025 needs three)
    var places = 0;
    while (places < 6 && Math.round(step) % Math.pow(10, 9 - places) !== 0) places += 1;
    if (places === 1) places = 2;  // $0.50, not $0.5
    for (var t = 0; t <= ticks; t++) {
      var y = top + plotH - t * step * scale;
      svg.appendChild(s("line", { x1: left, x2: width - right, y1: y.toFixed(1), y2: y.toFixed(1),
                                  stroke: t === 0 ? "#98a2b3" : "#eef0f3" }));
      svg.appendChild(s("text", { x: left - 6, y: (y + 4).toFixed(1), "text-anchor": "end" },
                        money(Math.round(t * step), places)));
    }
    if (c.calls === 0 && !proj.length) {
      svg.appendChild(s("text", { x: left + plotW / 2, y: top + plotH / 2, "text-anchor": "middle",
                                  class: "empty" }, "No calls in this window"));
    }
    var byDay = {};
    (r.trend.day || []).forEach(function (d) { byDay[d.day] = d; });
    var spikes = {};
    (r.spikes || []).forEach(function (sp) { spikes[sp.day] = sp; });
    days.forEach(function (day, i) {
      var x = left + i * slot + (slot - barW) / 2;
      var y = top + plotH;
      var g = s("g", { class: "day", "data-day": day });
      var d = byDay[day];
      keys.forEach(function (key, k) {
        var v = c.series[key][i];
        if (num(v) <= 0) return;
        var hgt = num(v) * scale;
        y -= hgt;
        g.appendChild(s("rect", { class: "bar", x: x.toFixed(2), y: y.toFixed(2), width: barW.toFixed(2),
                                  height: Math.max(0.5, hgt).toFixed(2), fill: hue[key],
                                  "data-key": key, "data-day": day, "data-nanos": String(v) },
                        s("title", null, key + " · " + day + ": " + money(v) +
                          (d ? " (day " + money(d.cost_nanos) + ", " + count(d.calls) + " calls)" : ""))));
      });
      if (spikes[day]) {
        var sp = spikes[day], cx = x + barW / 2, ty = Math.max(top - 8, y - 6);
        g.appendChild(s("path", { class: "spike-mark", d: "M" + (cx - 5) + " " + (ty - 8) + " L" + (cx + 5) +
                                  " " + (ty - 8) + " L" + cx + " " + ty + " Z" },
                        s("title", null, "spike " + day + ": " + money(sp.cost_nanos) + ", " +
                          sp.factor.toFixed(1) + "x the median day before")));
        g.appendChild(s("text", { class: "spike-label", x: cx.toFixed(1), y: (ty - 11).toFixed(1),
                                  "text-anchor": "middle" }, "spike"));
        g.setAttribute("data-spike", "1");
      }
      svg.appendChild(g);
    });
    proj.forEach(function (day, i) {
      var x = left + (days.length + i) * slot + (slot - barW) / 2;
      var hgt = num(c.projected_daily_nanos) * scale;
      svg.appendChild(s("rect", { class: "projection", x: x.toFixed(2), y: (top + plotH - hgt).toFixed(2),
                                  width: barW.toFixed(2), height: hgt.toFixed(2), fill: "none",
                                  stroke: "#667085", "stroke-dasharray": "4 3", "data-day": day,
                                  "data-nanos": String(c.projected_daily_nanos) },
                        s("title", null, "projection " + day + ": " + money(c.projected_daily_nanos))));
    });
    if (c.daily_allowance_nanos !== null && c.daily_allowance_nanos !== undefined) {
      var by = top + plotH - num(c.daily_allowance_nanos) * scale;
      svg.appendChild(s("line", { id: "budget-line", x1: left, x2: width - right, y1: by.toFixed(1),
                                  y2: by.toFixed(1), stroke: "#d62728", "stroke-width": 1.5,
                                  "stroke-dasharray": "6 4", "data-nanos": String(c.daily_allowance_nanos) },
                        s("title", null, "budget per day " + money(c.daily_allowance_nanos))));
      svg.appendChild(s("text", { class: "budget-label", x: width - right - 4, y: (by - 5).toFixed(1),
                                  "text-anchor": "end" },
                        "budget " + money(c.daily_allowance_nanos) + "/day"));
    }
    var all = days.concat(proj);
    var every = Math.max(1, Math.ceil(all.length / Math.floor(plotW / 56)));
    for (var i = 0; i < all.length; i += every) {
      svg.appendChild(s("text", { x: (left + i * slot + slot / 2).toFixed(1), y: top + plotH + 16,
                                  "text-anchor": "middle" }, dayLabel(all[i])));
    }
    box.appendChild(svg);

    // legend amounts: the report's breakdown of the same dimension
    var legend = clear($("legend"));
    var rows = {};
    ((r.breakdowns || {})[c.by] || []).forEach(function (row) { rows[row[c.by]] = row; });
    keys.forEach(function (key, k) {
      var row = rows[key];
      legend.appendChild(h("span", { class: "item", "data-key": key },
        s("svg", { viewBox: "0 0 10 10" }, s("rect", { width: 10, height: 10, rx: 2, fill: hue[key] })),
        h("span", { class: "key" }, key),
        row ? h("span", { class: "amount" }, money(row.cost_nanos)) : null));
    });
    if (c.projected_period_nanos !== null && c.projected_period_nanos !== undefined) {
      legend.appendChild(h("span", { class: "item projection-note" }, h("span", { class: "amount" },
        (proj.length ? "dashed: " : "") + "projected " + money(c.projected_period_nanos) +
        " by " + c.period_end + " at " + money(c.projected_daily_nanos) + "/day")));
    }
  }

  function note(cls, text, when) {
    return h("li", { class: cls }, text, when ? h("span", { class: "when" }, when) : null);
  }

  function renderNotes() {
    var r = state.report;
    if (!r) return;
    var sm = r.summary, list = clear($("notes"));
    if (sm.unpriced_calls) {
      list.appendChild(note("warn", count(sm.unpriced_calls) + " unpriced calls of " +
        sm.unpriced_models.join(", ") + " (" + count(sm.unpriced_input_tokens) + " in / " +
        count(sm.unpriced_output_tokens) + " out tokens) are not in the totals: add a price override."));
    }
    if (sm.failed_calls) {
      list.appendChild(note("bad", count(sm.failed_calls) + " calls failed (success " +
                            pct(sm.success_rate) + ")."));
    }
    (r.spikes || []).forEach(function (sp) {
      list.appendChild(note("spike", "Spike on " + dayLabel(sp.day) + ": " + money(sp.cost_nanos) +
        ", " + sp.factor.toFixed(1) + "x the median day before (" + money(sp.median_before_nanos) + ")."));
    });
    var b = r.budget;
    if (b && !b.error && b.level !== "OK") {
      list.appendChild(note(b.level === "WARN" ? "warn" : "bad", "Budget " + b.level + ": " +
        money(b.spent_nanos) + " of " + money(b.limit_nanos) + " this " + b.period + "."));
    }
    (r.warnings || []).forEach(function (w) { list.appendChild(note("warn", w)); });
    if (!list.firstChild) list.appendChild(note("none", "Nothing needs attention in this window."));

    var alerts = clear($("alerts"));
    if (state.alerts === null && state.alertsError) {
      alerts.appendChild(note("none", "Alerts unavailable: " + state.alertsError));
    } else if (!state.alerts || !state.alerts.length) {
      alerts.appendChild(note("none", "No budget alerts yet."));
    } else {
      state.alerts.forEach(function (a) {
        alerts.appendChild(note(a.threshold === "limit" ? "bad" : "warn", a.message,
                                a.created_at ? zoneTime(a.created_at, true) : null));
      });
    }
  }

  // left out where the page is narrow (app.css), so label, cost and calls stay whole:
  // ``tok`` (token counts) below 1100 px, ``opt`` on a phone
  var COLUMNS = [
    { key: "cost_nanos", label: "Cost", fmt: function (r) { return money(r.cost_nanos); } },
    { key: "share", label: "Share", opt: true, fmt: function (r) { return pct(r.share); } },
    { key: "calls", label: "Calls", fmt: function (r) { return count(r.calls); } },
    { key: "input_tokens", tok: true, label: "In tokens", opt: true, fmt: function (r) { return count(r.input_tokens); } },
    { key: "output_tokens", tok: true, label: "Out tokens", opt: true, fmt: function (r) { return count(r.output_tokens); } },
    { key: "cache_read_tokens", tok: true, label: "Cache read", opt: true, fmt: function (r) { return count(r.cache_read_tokens); } },
    { key: "cache_write_tokens", tok: true, label: "Cache write", opt: true, fmt: function (r) { return count(r.cache_write_tokens); } },
    { key: "unpriced_calls", label: "Unpriced", opt: true, badge: "" },
    { key: "failed_calls", label: "Failed", opt: true, badge: "bad" }
  ];

  // beside Cost when the team has seats or plan usage, as the CLI's table
  var BILLING_COLUMNS = [
    { key: "metered_nanos", label: "Metered", fmt: function (r) { return money(r.metered_nanos); } },
    { key: "seats_nanos", label: "Seats", fmt: function (r) { return money(r.seats_nanos); } },
    { key: "plan_usage_nanos", label: "Plan use", fmt: function (r) { return money(r.plan_usage_nanos); } }
  ];

  function tableColumns() {
    if (state.tab === "project" || !state.report || !billingShown(state.report.summary)) return COLUMNS;
    return COLUMNS.slice(0, 1).concat(BILLING_COLUMNS, COLUMNS.slice(1));
  }

  function tableRows() {
    if (state.tab === "project") return state.tags ? state.tags.rows : null;
    return state.report ? state.report.breakdowns[state.tab] || [] : null;
  }

  function cmp(a, b) { return a < b ? -1 : a > b ? 1 : 0; }

  function renderTable() {
    var dim = state.tab, table = clear($("breakdown")), rows = tableRows();
    var more = $("breakdown-more");
    more.hidden = true;
    table.setAttribute("data-dim", dim);
    if (rows === null) { table.appendChild(h("caption", null, "loading")); return; }
    var sort = state.sort[dim] || { key: "cost_nanos", dir: -1 };
    var columns = tableColumns();
    var cols = [{ key: dim, label: dim === "project" ? "project tag" : dim }].concat(columns);
    var head = h("tr");
    cols.forEach(function (col) {
      var th = h("th", { "data-key": col.key, scope: "col",
                         class: ((sort.key === col.key ? "sorted" + (sort.dir > 0 ? " asc" : "") : "") +
                                 (col.opt ? " opt" : "") + (col.tok ? " tok" : "")).trim() || null },
                 col.label);
      th.addEventListener("click", function () {
        var cur = state.sort[dim] || { key: "cost_nanos", dir: -1 };
        state.sort[dim] = { key: col.key, dir: cur.key === col.key ? -cur.dir : (col.key === dim ? 1 : -1) };
        renderTable();
      });
      head.appendChild(th);
    });
    table.appendChild(h("thead", null, head));
    var sorted = rows.slice().sort(function (a, b) {
      return sort.dir * cmp(a[sort.key], b[sort.key]) || cmp(a[dim], b[dim]);
    });
    var shown = state.showAll ? sorted : sorted.slice(0, TABLE_ROWS);
    var body = h("tbody");
    shown.forEach(function (row) {
      var tr = h("tr", { "data-key": row[dim], class: dim === "session" && row[dim] !== "(none)" ? "click" : null });
      tr.appendChild(h("td", { class: "label", title: row[dim] }, row[dim]));
      columns.forEach(function (col) {
        var cls = ((col.opt ? "opt" : "") + (col.tok ? " tok" : "")).trim() || null;
        if (col.fmt) { tr.appendChild(h("td", { "data-col": col.key, class: cls }, col.fmt(row))); return; }
        var n = row[col.key];
        tr.appendChild(h("td", { "data-col": col.key, class: cls },
                         n ? h("span", { class: "badge " + col.badge }, count(n)) : ""));
      });
      if (dim === "session" && row[dim] !== "(none)") {
        tr.addEventListener("click", function () { openSession(row[dim]); });
      }
      body.appendChild(tr);
    });
    if (!shown.length) {
      body.appendChild(h("tr", null, h("td", { colspan: cols.length, class: "left" },
        dim === "project" && state.tags && state.tags.error ? state.tags.error : "No calls in this window.")));
    }
    table.appendChild(body);
    if (sorted.length > shown.length) {
      more.textContent = "Show all " + count(sorted.length) + " rows";
      more.hidden = false;
    }
  }

  /* the latest-calls panel shows the short form; the session drawer every detail */
  function callRow(c, full) {
    var status = c.success ? (c.priced ? "" : h("span", { class: "badge", title: "unpriced" }, "unpriced")) :
      h("span", { class: "badge bad", title: c.error || "" }, "failed");
    var tokens = c.input_tokens + c.output_tokens + c.cache_read_tokens + c.cache_write_tokens;
    var when = zoneTime(c.ts, true);
    return h("tr", { "data-call": c.call_id },
      h("td", { class: "left", title: c.ts }, full ? when :
        [h("span", { class: "date" }, when.slice(5, 11)), when.slice(11, 16)]),
      h("td", { class: "label", title: c.member }, c.member),
      full ? h("td", { class: "label" }, c.agent || "") : null,
      h("td", { class: "label", title: c.model + (c.agent ? " · " + c.agent : "") }, c.model),
      full ? h("td", null, count(tokens)) : null,
      h("td", null, money(c.cost_nanos)),
      h("td", { class: "left" }, status,
        full && c.error ? h("span", { class: "error" }, " " + c.error) : null));
  }

  function callsHead(full) {
    var names = full ? ["Time", "Member", "Agent", "Model", "Tokens", "Cost", ""]
                     : ["Time", "Member", "Model", "Cost", ""];
    return h("thead", null, h("tr", null, names.map(function (t) {
      return h("th", { scope: "col", class: /^(Time|Member|Agent|Model|)$/.test(t) ? "left" : null }, t);
    })));
  }

  function renderCalls() {
    var table = clear($("calls"));
    table.appendChild(callsHead(false));
    var body = h("tbody");
    state.calls.forEach(function (c) { body.appendChild(callRow(c, false)); });
    if (!state.calls.length) body.appendChild(h("tr", null, h("td", { colspan: 5, class: "left" }, "No calls yet.")));
    table.appendChild(body);
    $("calls-more").hidden = !state.cursor;
  }

  function openSession(id) {
    state.session = id;
    var panel = $("session");
    setText("session-title", "Session " + id);
    setText("session-sub", "loading");
    clear($("session-calls"));
    panel.hidden = false;
    getJSON("/api/sessions/" + encodeURIComponent(id)).then(function (d) {
      if (state.session !== id) return;
      var sm = d.summary;
      setText("session-sub", money(sm.cost_nanos) + " over " + count(sm.calls) + " calls · " +
              zoneTime(d.first, true) + " to " + zoneTime(d.last, true) +
              (sm.unpriced_calls ? " · " + count(sm.unpriced_calls) + " unpriced" : "") +
              (sm.failed_calls ? " · " + count(sm.failed_calls) + " failed" : "") +
              (d.truncated ? " · newest " + count(d.calls.length) + " shown" : ""));
      var table = clear($("session-calls"));
      table.appendChild(callsHead(true));
      var body = h("tbody");
      d.calls.forEach(function (c) { body.appendChild(callRow(c, true)); });
      table.appendChild(body);
      panel.setAttribute("data-loaded", id);
    }).catch(function (err) { setText("session-sub", err.message); });
  }

  // ---- controls ---------------------------------------------------------------------------

  function monthStart() {
    var tz = (state.report && state.report.window.timezone) || "UTC";
    var parts = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit" })
      .formatToParts(new Date());
    var y = parts.find(function (p) { return p.type === "year"; }).value;
    var m = parts.find(function (p) { return p.type === "month"; }).value;
    return y + "-" + m + "-01";
  }

  function setWindow(win) {
    state.win = win;
    if (win === "custom") {
      $("custom").hidden = false;
      renderControls();
      return;
    }
    state.since = win === "month" ? monthStart() : win;
    state.until = null;
    state.showAll = false;
    saveAddress();
    renderControls();
    load();
  }

  function wire() {
    $("windows").addEventListener("click", function (e) {
      var b = e.target.closest("button[data-window]");
      if (b) setWindow(b.getAttribute("data-window"));
    });
    $("custom").addEventListener("submit", function (e) {
      e.preventDefault();
      state.since = $("custom-since").value;
      state.until = $("custom-until").value || null;
      state.win = "custom";
      saveAddress();
      load();
    });
    $("stacks").addEventListener("click", function (e) {
      var b = e.target.closest("button[data-stack]");
      if (!b) return;
      state.stack = b.getAttribute("data-stack");
      saveAddress();
      renderControls();
      loadChart();
    });
    $("tabs").addEventListener("click", function (e) {
      var b = e.target.closest("button[data-tab]");
      if (!b) return;
      state.tab = b.getAttribute("data-tab");
      state.showAll = false;
      saveAddress();
      renderControls();
      renderTable();
    });
    Array.prototype.forEach.call(document.querySelectorAll("select[data-filter]"), function (sel) {
      sel.addEventListener("change", function () {
        state.filters[sel.getAttribute("data-filter")] = sel.value || null;
        saveAddress();
        load();
      });
    });
    $("f-clear").addEventListener("click", function () {
      state.filters = {};
      FILTERS.forEach(function (k) { state.filters[k] = null; });
      saveAddress();
      load();
    });
    $("breakdown-more").addEventListener("click", function () { state.showAll = true; renderTable(); });
    $("calls-more").addEventListener("click", function () {
      if (!state.cursor) return;
      getJSON("/api/calls?limit=25&cursor=" + encodeURIComponent(state.cursor)).then(function (p) {
        state.calls = state.calls.concat(p.calls);
        state.cursor = p.next_cursor;
        renderCalls();
      }).catch(showError);
    });
    $("session-close").addEventListener("click", function () { state.session = null; $("session").hidden = true; });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { state.session = null; $("session").hidden = true; }
    });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () { if (state.chart && state.report) renderChart(); }, 150);
    });
    if (state.win === "custom") {
      $("custom-since").value = /^\d{4}-\d{2}-\d{2}$/.test(state.since) ? state.since : "";
      $("custom-until").value = state.until || "";
    }
  }

  // ---- live updates -----------------------------------------------------------------------

  function connect() {
    if (!window.EventSource) return;
    var es = new EventSource("/api/events");
    var wasDown = false;
    es.addEventListener("open", function () {
      $("live-dot").className = "dot on";
      setText("live-text", "live");
    });
    es.addEventListener("error", function () {
      wasDown = true;
      $("live-dot").className = "dot off";
      setText("live-text", "reconnecting");
    });
    es.addEventListener("hello", function () {
      if (wasDown) { wasDown = false; scheduleRefresh(); }  // catch up on what was missed
    });
    es.addEventListener("calls", scheduleRefresh);
    es.addEventListener("budget", scheduleRefresh);
  }

  wire();
  renderControls();
  load();
  connect();
})();
