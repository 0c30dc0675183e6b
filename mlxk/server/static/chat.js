// The chat page of `mlxk serve`: talks to this server's own OpenAI API, nothing else.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const KEY_STORE = "mlxk.apiKey";
  const MODEL_STORE = "mlxk.model";
  const state = { history: [], controller: null, models: new Map() };

  // ---- Markdown: escape everything first, then add only our own tags ----------------

  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]);

  function emphasis(escaped) {
    return escaped
      .replace(/\*\*(?=\S)(.+?)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^*\w])\*(?=\S)([^*]+?)\*(?![*\w])/g, "$1<em>$2</em>")
      .replace(
        /\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g,
        '<a href="$2" rel="noopener noreferrer" target="_blank">$1</a>',
      );
  }

  function renderInline(raw) {
    return raw
      .split(/(`[^`\n]+`)/)
      .map((part, i) =>
        i % 2 ? `<code>${escapeHtml(part.slice(1, -1))}</code>` : emphasis(escapeHtml(part)),
      )
      .join("");
  }

  function renderMarkdown(source) {
    const out = [];
    const lines = source.split("\n");
    let paragraph = [];
    let list = null;
    const flushParagraph = () => {
      if (paragraph.length) out.push(`<p>${paragraph.map(renderInline).join("<br>")}</p>`);
      paragraph = [];
    };
    const flushList = () => {
      if (list) out.push(`<${list.tag}>${list.items.join("")}</${list.tag}>`);
      list = null;
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (/^\s*```/.test(line)) {
        flushParagraph();
        flushList();
        const code = [];
        for (i++; i < lines.length && !/^\s*```/.test(lines[i]); i++) code.push(lines[i]);
        out.push(`<pre><code>${escapeHtml(code.join("\n"))}</code></pre>`);
        continue;
      }
      const heading = /^(#{1,6})\s+(.*)$/.exec(line);
      const item = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(line);
      if (heading) {
        flushParagraph();
        flushList();
        const level = Math.min(6, heading[1].length + 2);
        out.push(`<h${level}>${renderInline(heading[2])}</h${level}>`);
      } else if (item) {
        flushParagraph();
        const tag = /\d/.test(item[1]) ? "ol" : "ul";
        if (list && list.tag !== tag) flushList();
        list = list || { tag, items: [] };
        list.items.push(`<li>${renderInline(item[2])}</li>`);
      } else if (!line.trim()) {
        flushParagraph();
        flushList();
      } else {
        flushList();
        paragraph.push(line);
      }
    }
    flushParagraph();
    flushList();
    return out.join("");
  }

  // ---- The API ------------------------------------------------------------------------

  function api(path, options = {}) {
    const headers = { "Content-Type": "application/json", ...(options.headers || {}) };
    const key = sessionStorage.getItem(KEY_STORE);
    if (key) headers.Authorization = `Bearer ${key}`;
    return fetch(path, { ...options, headers });
  }

  async function apiError(response) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) message = body.error.message;
    } catch (_) {
      // not JSON: keep the status line
    }
    if (response.status === 401) {
      message += " — enter the server's API key in Settings.";
      $("settings").open = true;
    }
    const error = new Error(message);
    error.status = response.status;
    return error;
  }

  async function* sseData(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, ""))
          .join("\n");
        if (data) yield data;
      }
    }
  }

  // ---- The page -----------------------------------------------------------------------

  function showError(message) {
    $("error").textContent = message;
    $("error").hidden = false;
  }

  function hideError() {
    $("error").hidden = true;
    $("error").textContent = "";
  }

  function describe(model) {
    const parts = [];
    if (model.context_length) parts.push(`context ${model.context_length.toLocaleString()}`);
    if ((model.capabilities || []).includes("reasoning")) parts.push("reasons");
    if (!(model.capabilities || []).includes("chat")) parts.push("base model");
    if (model.loaded) parts.push("loaded");
    return parts.join(" · ");
  }

  // After an answer, which models are loaded may have changed (a server can keep several).
  async function refreshLoaded() {
    try {
      const response = await api("/v1/models");
      if (!response.ok) return;
      const { data } = await response.json();
      const options = [...$("model").options];
      for (const model of data) {
        const option = options.find((o) => o.value === model.id);
        if (!option) continue;
        state.models.set(model.id, model);
        option.textContent = `${model.id} (${describe(model)})`;
      }
    } catch (error) {
      // the list stays as it was; the next answer tries again
    }
  }

  async function loadModels() {
    const select = $("model");
    try {
      const response = await api("/v1/models");
      if (!response.ok) throw await apiError(response);
      const { data } = await response.json();
      const models = data.filter((m) => !(m.capabilities || []).includes("embeddings"));
      state.models = new Map(models.map((m) => [m.id, m]));
      const wanted = select.value || sessionStorage.getItem(MODEL_STORE);
      select.replaceChildren(
        ...models.map((m) => {
          const option = new Option(`${m.id} (${describe(m)})`, m.id);
          option.dataset.reasoning = String((m.capabilities || []).includes("reasoning"));
          return option;
        }),
      );
      if (!models.length) select.append(new Option("No runnable models in the cache", ""));
      const preferred =
        models.find((m) => m.id === wanted) ||
        models.find((m) => m.loaded) ||
        models.find((m) => (m.capabilities || []).includes("chat")) ||
        models[0];
      if (preferred) select.value = preferred.id;
      showModelInfo();
      hideError();
    } catch (error) {
      select.replaceChildren(new Option("Models unavailable", ""));
      showError(`Could not list models: ${error.message}`);
    }
  }

  function showModelInfo() {
    const model = state.models.get($("model").value);
    $("model-info").textContent = model ? describe(model) : "";
    if (model) sessionStorage.setItem(MODEL_STORE, model.id);
  }

  function scrollToEnd() {
    const log = $("log");
    log.scrollTop = log.scrollHeight;
  }

  function addUserMessage(text) {
    const article = document.createElement("article");
    article.className = "message user";
    const role = document.createElement("span");
    role.className = "role";
    role.textContent = "You";
    article.append(role, document.createTextNode(text));
    $("log").append(article);
    scrollToEnd();
    return article;
  }

  function addAssistantMessage(modelId) {
    const article = document.createElement("article");
    article.className = "message assistant";
    article.dataset.state = "streaming";
    article.setAttribute("aria-busy", "true");
    const role = document.createElement("span");
    role.className = "role";
    role.textContent = modelId;
    const details = document.createElement("details");
    details.className = "reasoning";
    details.hidden = true;
    details.open = true;
    const summary = document.createElement("summary");
    summary.textContent = "Thinking…";
    const thought = document.createElement("div");
    thought.className = "text";
    details.append(summary, thought);
    const answer = document.createElement("div");
    answer.className = "answer";
    const meta = document.createElement("div");
    meta.className = "meta muted";
    article.append(role, details, answer, meta);
    $("log").append(article);
    scrollToEnd();

    let pending = null;
    const render = (text) => {
      answer.innerHTML = renderMarkdown(text);
      scrollToEnd();
    };
    const finish = (label, note) => {
      if (pending !== null) render(pending);
      pending = null;
      if (!details.hidden) summary.textContent = "Reasoning";
      article.dataset.state = label;
      article.removeAttribute("aria-busy");
      if (note) meta.textContent = note;
    };
    return {
      reasoning(text) {
        details.hidden = false;
        thought.textContent = text;
        scrollToEnd();
      },
      answer(text) {
        if (pending === null) {
          requestAnimationFrame(() => {
            const latest = pending;
            pending = null;
            if (latest !== null) render(latest);
          });
        }
        pending = text;
        if (!details.hidden && text) summary.textContent = "Reasoning";
      },
      toolCalls(calls, onResults) {
        answer.after(toolCallsView(calls, onResults));
        scrollToEnd();
      },
      done(note) {
        finish("done", note);
      },
      stopped() {
        finish("stopped", "Stopped.");
      },
      failed(message) {
        const failure = document.createElement("p");
        failure.className = "failure";
        failure.textContent = message;
        answer.after(failure);
        finish("error");
      },
    };
  }

  // A model's tool calls, each its name and arguments, with a box for what it returned.
  function toolCallsView(calls, onResults) {
    const box = document.createElement("div");
    box.className = "tool-calls";
    const results = calls.map((call) => {
      const item = document.createElement("div");
      item.className = "tool-call";
      const name = document.createElement("span");
      name.className = "tool-name";
      name.textContent = `${call.function.name}()`;
      const args = document.createElement("pre");
      args.className = "tool-arguments";
      try {
        args.textContent = JSON.stringify(JSON.parse(call.function.arguments), null, 2);
      } catch (_) {
        args.textContent = call.function.arguments;
      }
      const result = document.createElement("textarea");
      result.rows = 1;
      result.className = "tool-result";
      result.setAttribute("aria-label", `What ${call.function.name} returned`);
      result.placeholder = `What ${call.function.name} returned`;
      item.append(name, args, result);
      box.append(item);
      return result;
    });
    const button = document.createElement("button");
    button.type = "button";
    button.className = "send-results";
    button.textContent = calls.length > 1 ? "Send the results" : "Send the result";
    button.addEventListener("click", () => {
      if (state.controller) return;
      button.disabled = true;
      results.forEach((r) => (r.disabled = true));
      onResults(results.map((r) => r.value));
    });
    box.append(button);
    return box;
  }

  function tools() {
    const text = $("tools").value.trim();
    if (!text) return null;
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`Tools (in Settings) are not valid JSON: ${error.message}`);
    }
    return Array.isArray(parsed) ? parsed : [parsed];
  }

  function setBusy(busy) {
    $("send").disabled = busy;
    $("stop").hidden = !busy;
    $("model").disabled = busy;
  }

  function requestBody(model) {
    const messages = [];
    const system = $("system").value.trim();
    if (system) messages.push({ role: "system", content: system });
    messages.push(...state.history);
    const body = { model, messages, stream: true, stream_options: { include_usage: true } };
    const temperature = $("temperature").value.trim();
    if (temperature !== "") body.temperature = Number(temperature);
    const maxTokens = $("max-tokens").value.trim();
    if (maxTokens !== "") body.max_tokens = Number(maxTokens);
    const offered = tools();
    if (offered) body.tools = offered;
    return body;
  }

  function summarize(finish, usage, timings) {
    const parts = [];
    if (usage) parts.push(`${usage.completion_tokens} tokens`);
    if (timings && timings.decode_tokens_per_s) {
      parts.push(`${timings.decode_tokens_per_s.toFixed(1)} tok/s`);
    }
    if (finish === "length") parts.push("stopped at the token limit");
    return parts.join(" · ");
  }

  // Send a message (text), or, with none, go on after the tool results now in the history.
  async function send(text) {
    const model = $("model").value;
    if (!model) {
      showError("Pick a model first.");
      return;
    }
    hideError();
    let body;
    if (text !== null) state.history.push({ role: "user", content: text });
    try {
      body = JSON.stringify(requestBody(model));
    } catch (error) {
      if (text !== null) state.history.pop();
      showError(error.message);
      if (text !== null && !$("prompt").value) $("prompt").value = text;
      return;
    }
    if (text !== null) addUserMessage(text);
    const view = addAssistantMessage(model);
    const controller = new AbortController();
    state.controller = controller;
    setBusy(true);
    let answer = "";
    let reasoning = "";
    const calls = [];
    let finish = null;
    let usage = null;
    let timings = null;
    try {
      const response = await api("/v1/chat/completions", {
        method: "POST",
        body,
        signal: controller.signal,
      });
      if (!response.ok) throw await apiError(response);
      for await (const data of sseData(response)) {
        if (data === "[DONE]") break;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        const choice = (chunk.choices || [])[0];
        const delta = (choice && choice.delta) || {};
        const thought = delta.reasoning ?? delta.reasoning_content;
        if (thought) {
          reasoning += thought;
          view.reasoning(reasoning);
        }
        if (delta.content) {
          answer += delta.content;
          view.answer(answer);
        }
        for (const part of delta.tool_calls || []) {
          const call = (calls[part.index] ||= {
            id: "",
            type: "function",
            function: { name: "", arguments: "" },
          });
          if (part.id) call.id = part.id;
          if (part.function && part.function.name) call.function.name += part.function.name;
          if (part.function && part.function.arguments) {
            call.function.arguments += part.function.arguments;
          }
        }
        if (choice && choice.finish_reason) finish = choice.finish_reason;
        if (chunk.usage) usage = chunk.usage;
        if (chunk.timings) timings = chunk.timings;
      }
      if (calls.length) view.toolCalls(calls, (results) => answerCalls(calls, results));
      view.done(summarize(finish, usage, timings));
    } catch (error) {
      if (error.name === "AbortError") {
        view.stopped();
      } else {
        view.failed(error.message);
        showError(error.message);
      }
    } finally {
      if (calls.length) {
        state.history.push({ role: "assistant", content: answer || null, tool_calls: calls });
      } else if (answer || reasoning) {
        state.history.push({ role: "assistant", content: answer });
      } else if (text !== null) {
        state.history.pop();
        if (!$("prompt").value) $("prompt").value = text;
      }
      state.controller = null;
      setBusy(false);
      refreshLoaded();
      $("prompt").focus();
    }
  }

  function answerCalls(calls, results) {
    calls.forEach((call, i) => {
      state.history.push({ role: "tool", tool_call_id: call.id, content: results[i] });
    });
    send(null);
  }

  function stop() {
    if (state.controller) state.controller.abort();
  }

  function clear() {
    stop();
    state.history = [];
    $("log").replaceChildren();
    hideError();
    $("prompt").focus();
  }

  function start() {
    $("api-key").value = sessionStorage.getItem(KEY_STORE) || "";
    $("api-key").addEventListener("change", () => {
      const key = $("api-key").value.trim();
      if (key) sessionStorage.setItem(KEY_STORE, key);
      else sessionStorage.removeItem(KEY_STORE);
      loadModels();
    });
    $("model").addEventListener("change", showModelInfo);
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("prompt").value.trim();
      if (!text || state.controller) return;
      $("prompt").value = "";
      send(text);
    });
    $("prompt").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("composer").requestSubmit();
      }
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") stop();
    });
    $("stop").addEventListener("click", stop);
    $("clear").addEventListener("click", clear);
    loadModels();
  }

  window.mlxkChat = { renderMarkdown };
  start();
})();
