#!/usr/bin/env python3
"""Test oracle for kiln's Jinja interpreter: renders templates with Python's jinja2 in the
environment Hugging Face transformers uses for chat templates (ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loop controls, the {% generation %} tag, and the raise_exception,
strftime_now and tojson it installs). Prints one JSON document on stdout.

  jinja_oracle.py chat MODELS_DIR CONVERSATIONS.json   every chat template x every conversation
  jinja_oracle.py snippets SNIPPETS.json               [{"template", "context"}] -> [{"ok", "text"}]
  jinja_oracle.py render TEMPLATE MESSAGES.json [--add-generation-prompt]
      one conversation (a list, or {"messages", "tools"}) with a .jinja file or a tokenizer_config.json
      (bos/eos "<s>"/"</s>" for a .jinja file); prints the text, exit 1 when rendering fails
"""
import datetime
import glob
import json
import os
import sys

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

NOW = datetime.datetime(2025, 3, 14, 9, 26, 53)


class GenerationTag(Extension):
    # transformers' AssistantTracker: {% generation %} renders its body unchanged.
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: NOW.strftime(fmt)
    return env


def render(env, source, context):
    try:
        return {"ok": True, "text": env.from_string(source).render(**context)}
    except Exception as e:  # any failure: kiln must fail too
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")}


def token_text(t):
    if isinstance(t, dict):
        return t.get("content")
    return t


def chat_sources(models):
    """(id, template source, special tokens) for every template the conformance test covers."""
    out = []
    for path in sorted(glob.glob(os.path.join(models, "chat-templates", "*.jinja"))):
        with open(path, encoding="utf-8") as f:
            out.append((os.path.basename(path), f.read(), {"bos_token": "<s>", "eos_token": "</s>"}))
    for path in sorted(glob.glob(os.path.join(models, "tokenizers", "*", "tokenizer_config.json"))):
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
        tmpl = cfg.get("chat_template")
        if tmpl is None:
            continue
        if isinstance(tmpl, list):
            tmpl = next(t["template"] for t in tmpl if t.get("name") == "default")
        tokens = {}
        for k in ("bos_token", "eos_token", "unk_token", "pad_token"):
            if cfg.get(k) is not None:
                tokens[k] = token_text(cfg[k])
        rel = os.path.relpath(path, models)
        out.append((rel, tmpl, tokens))
    return out


def main():
    env = make_env()
    if sys.argv[1] == "chat":
        models, conv_path = sys.argv[2], sys.argv[3]
        with open(conv_path, encoding="utf-8") as f:
            convs = json.load(f)
        result = {}
        for tid, source, tokens in chat_sources(models):
            per = {}
            for c in convs:
                ctx = dict(tokens)
                ctx.update(messages=c["messages"], tools=c.get("tools"), documents=None,
                           add_generation_prompt=c.get("add_generation_prompt", False))
                ctx.update(c.get("kwargs", {}))
                per[c["name"]] = render(env, source, ctx)
            result[tid] = per
        json.dump(result, sys.stdout, ensure_ascii=False)
    elif sys.argv[1] == "snippets":
        with open(sys.argv[2], encoding="utf-8") as f:
            snippets = json.load(f)
        json.dump([render(env, s["template"], s.get("context", {})) for s in snippets], sys.stdout,
                  ensure_ascii=False)
    elif sys.argv[1] == "render":
        path, msgs_path = sys.argv[2], sys.argv[3]
        with open(path, encoding="utf-8") as f:
            text = f.read()
        ctx = {"bos_token": "<s>", "eos_token": "</s>"}
        if path.endswith(".json"):
            cfg = json.loads(text)
            text = cfg["chat_template"]
            if isinstance(text, list):
                text = next(t["template"] for t in text if t.get("name") == "default")
            ctx = {k: token_text(cfg[k]) for k in ("bos_token", "eos_token", "unk_token", "pad_token") if cfg.get(k) is not None}
        with open(msgs_path, encoding="utf-8") as f:
            doc = json.load(f)
        tools = None
        if isinstance(doc, dict):
            tools = doc.get("tools")
            doc = doc["messages"]
        ctx.update(messages=doc, tools=tools, documents=None, add_generation_prompt="--add-generation-prompt" in sys.argv)
        r = render(env, text, ctx)
        if not r["ok"]:
            sys.exit(r["error"])
        sys.stdout.write(r["text"])
    else:
        sys.exit("usage: jinja_oracle.py chat MODELS CONVERSATIONS.json | snippets SNIPPETS.json")


if __name__ == "__main__":
    main()
