#!/usr/bin/env python3
"""Refresh the built-in catalog's prices, context windows and output limits from a public price
list: LiteLLM's model_prices_and_context_window.json (per-token USD prices, token limits).

    python3 catalog/refresh.py                    # fetch the list from GitHub, show what changes
    python3 catalog/refresh.py --write            # ... and rewrite catalog/models.json
    python3 catalog/refresh.py --list prices.json # a copy on disk (e.g. from `pip download litellm`:
                                                  # litellm/model_prices_and_context_window_backup.json)
    python3 catalog/refresh.py --add gpt-5.5 --write  # add a model the list knows (then write its
                                                      # description and tags by hand)

Only facts are taken: prices (converted to USD per million tokens, as the catalog keeps them),
context window, maximum output and the capability flags of added models. Names, descriptions and
tags stay ours. A model the list does not know is reported and left as it is. Restart modelgate
(or run `modelgate migrate`) to load the new catalog; it syncs built-in models at start.
"""

import argparse
import json
import sys
import urllib.request
from pathlib import Path

DEFAULT_LIST = (
    "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
)
CATALOG = Path(__file__).with_name("models.json")

# Our provider name -> the list's prefix for that provider's own API.
PREFIX = {
    "openai": "",
    "anthropic": "",
    "google": "gemini/",
    "mistral": "mistral/",
    "deepseek": "deepseek/",
    "xai": "xai/",
    "cohere": "",
    "voyage": "voyage/",
    "jina": "jina_ai/",
}
# Open-weight models (provider "meta") are served by many hosts at their own prices: not refreshed.

PRICES = {
    "input": "input_cost_per_token",
    "output": "output_cost_per_token",
    "cache_hit_input": "cache_read_input_token_cost",
    "cache_creation_input": "cache_creation_input_token_cost",
}


def per_million(value):
    # 0 in the list means "not charged per token" (an embedding's output): unpriced here.
    if not value:
        return None
    # Per token in the list; the catalog keeps USD per million tokens, rounded to what prices
    # are quoted in (avoids 0.049999999 from float per-token values).
    return round(value * 1_000_000, 6)


def entry_for(prices, model):
    key = model["key"]
    candidates = [PREFIX.get(model.get("provider"), "") + key, key]
    for name in candidates:
        found = prices.get(name)
        if isinstance(found, dict):
            return name, found
    return None, None


def refreshed(model, found):
    out = dict(model)
    pricing = dict(model.get("pricing") or {})
    for ours, theirs in PRICES.items():
        if theirs in found:
            pricing[ours] = per_million(found[theirs])
    out["pricing"] = pricing
    if found.get("max_input_tokens"):
        out["context_window"] = found["max_input_tokens"]
    # Output limits only mean something for models that generate text.
    if model.get("category") == "llm" and found.get("max_output_tokens"):
        out["max_output_tokens"] = found["max_output_tokens"]
    return out


def added(key, provider, found):
    mode = found.get("mode", "chat")
    category = {"embedding": "embedding", "rerank": "rerank"}.get(mode, "llm")
    flag = lambda name: bool(found.get(name))
    model = {
        "key": key,
        "display_name": key,
        "provider": provider,
        "category": category,
        "description": "",
        "context_window": found.get("max_input_tokens"),
        "max_output_tokens": found.get("max_output_tokens"),
        "dimension": found.get("output_vector_size"),
        "pricing": {ours: per_million(found.get(theirs)) for ours, theirs in PRICES.items()},
        "capabilities": {
            "vision": flag("supports_vision"),
            "function_calling": flag("supports_function_calling"),
            "streaming": category == "llm",
            "json_mode": flag("supports_response_schema"),
            "reasoning": flag("supports_reasoning"),
            "embedding": category == "embedding",
            "rerank": category == "rerank",
        },
        "tags": [provider],
    }
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", default=DEFAULT_LIST, help="price list: URL or file")
    parser.add_argument("--write", action="store_true", help="rewrite catalog/models.json")
    parser.add_argument("--add", action="append", default=[], metavar="KEY",
                        help="add this model (its list name, e.g. gpt-5.5 or gemini/gemini-3.8-flash)")
    parser.add_argument("--provider", help="provider of --add models (default: from the list)")
    args = parser.parse_args()

    if args.list.startswith(("http://", "https://")):
        with urllib.request.urlopen(args.list, timeout=60) as response:
            prices = json.load(response)
    else:
        prices = json.loads(Path(args.list).read_text())

    catalog = json.loads(CATALOG.read_text())
    models = []
    changes = 0
    for model in catalog["models"]:
        name, found = entry_for(prices, model)
        if found is None:
            print(f"  not in the list, kept: {model['key']}", file=sys.stderr)
            models.append(model)
            continue
        new = refreshed(model, found)
        if new != model:
            changes += 1
            for field in ("pricing", "context_window", "max_output_tokens"):
                if new.get(field) != model.get(field):
                    print(f"{model['key']}: {field} {model.get(field)} -> {new.get(field)}")
        models.append(new)

    known = {m["key"] for m in models}
    for name in args.add:
        found = prices.get(name)
        if not isinstance(found, dict):
            sys.exit(f"{name}: not in the list")
        key = name.split("/", 1)[-1]
        if key in known:
            sys.exit(f"{key}: already in the catalog")
        provider = args.provider or {"gemini": "google"}.get(
            found.get("litellm_provider"), found.get("litellm_provider"))
        models.append(added(key, provider, found))
        known.add(key)
        changes += 1
        print(f"added {key} ({provider}): write its display_name, description and tags")

    models.sort(key=lambda m: (m["provider"], m["key"]))
    catalog["models"] = models
    print(f"{changes} model(s) change", file=sys.stderr)
    if args.write and changes:
        CATALOG.write_text(json.dumps(catalog, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {CATALOG}", file=sys.stderr)


if __name__ == "__main__":
    main()
