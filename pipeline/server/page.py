"""The translator page at `/`: a sentence in, its translation and attention heat-map out.

One static page that calls the server's own REST API (`greedy` / `beam_search` for the
translation, `attention` for the heat-map). Everything the model or the user wrote is put
into the page with `textContent`, never as markup.
"""

from __future__ import annotations

import html

from aiohttp import web

_PAGE = """<!doctype html>
<html lang="en" data-model="{model}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Translate: {model}</title>
<link rel="icon" href="data:,">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }}
textarea {{ width: 100%; font-size: 1.1rem; }}
#translation {{ font-size: 1.3rem; min-height: 1.5em; }}
#error {{ color: #a00; }}
table.heatmap {{ border-collapse: collapse; margin-top: 1rem; font-size: 0.85rem; }}
table.heatmap td {{ width: 2.2rem; height: 1.6rem; }}
table.heatmap th {{ font-weight: normal; padding: 0 0.3rem; }}
table.heatmap thead th {{ writing-mode: vertical-rl; transform: rotate(180deg); }}
</style>
</head>
<body>
<h1>Translate</h1>
<form id="form">
<label for="source">Sentence</label>
<textarea id="source" rows="3" maxlength="1000"></textarea>
<p>
<label><input type="radio" name="search" value="beam_search" checked> beam search</label>
<label><input type="radio" name="search" value="greedy"> greedy</label>
<button id="go" type="submit">Translate</button>
</p>
</form>
<p id="translation" aria-live="polite"></p>
<p id="error" role="alert"></p>
<h2>Attention</h2>
<p>Of the model's default search. Rows: the pieces it wrote; columns: the source pieces it
read (darker: more weight).</p>
<div id="attention"></div>
<script>
"use strict";
const model = document.documentElement.dataset.model;
const url = "/v1/models/" + encodeURIComponent(model) + ":predict";

async function predict(signature, sentence) {{
  const response = await fetch(url, {{
    method: "POST",
    headers: {{"Content-Type": "application/json"}},
    body: JSON.stringify({{signature_name: signature, instances: [sentence]}}),
  }});
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body.predictions[0];
}}

function cell(tag, text) {{
  const element = document.createElement(tag);
  element.textContent = text;
  return element;
}}

function heatmap(result) {{
  const table = document.createElement("table");
  table.className = "heatmap";
  const sourceTokens = result.source_tokens.filter((token) => token !== "");
  const head = table.createTHead().insertRow();
  head.appendChild(cell("th", ""));
  for (const token of sourceTokens) head.appendChild(cell("th", token));
  const body = table.createTBody();
  result.output_tokens.forEach((token, step) => {{
    const row = body.insertRow();
    row.appendChild(cell("th", token));
    sourceTokens.forEach((_, position) => {{
      const weight = result.attention[step][position];
      const td = row.insertCell();
      td.style.backgroundColor = `rgba(30, 60, 160, ${{weight.toFixed(3)}})`;
      td.title = weight.toFixed(3);
    }});
  }});
  return table;
}}

document.getElementById("form").addEventListener("submit", async (event) => {{
  event.preventDefault();
  const sentence = document.getElementById("source").value;
  const search = document.querySelector("input[name=search]:checked").value;
  const translation = document.getElementById("translation");
  const error = document.getElementById("error");
  const attention = document.getElementById("attention");
  document.body.dataset.state = "busy";
  error.textContent = "";
  translation.textContent = "…";
  try {{
    translation.textContent = await predict(search, sentence);
    attention.replaceChildren(heatmap(await predict("attention", sentence)));
    document.body.dataset.state = "done";
  }} catch (failure) {{
    translation.textContent = "";
    error.textContent = failure.message;
    document.body.dataset.state = "failed";
  }}
}});
</script>
</body>
</html>
"""


def add_routes(app: web.Application, model_name: str) -> None:
    """GET / answers the page, for the model served as `model_name`."""
    text = _PAGE.format(model=html.escape(model_name, quote=True))

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=text, content_type="text/html", charset="utf-8")

    app.router.add_get("/", index)
