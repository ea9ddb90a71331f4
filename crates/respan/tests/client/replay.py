#!/usr/bin/env python3
"""Drives Respan's generated Python client (PyPI `respan-api`) against a running modelgate.

Environment:
    MODELGATE_URL  base URL of the Respan dialect, e.g. http://127.0.0.1:8080/respan
    MODELGATE_KEY  an org admin's modelgate API key

Every model and provider method of `client.models` is called once, in the order a user would
call them, and its result is checked. One line is printed per call; the first failure prints
what went wrong and exits with status 1. Retries are switched off so that a refused request
shows at once instead of being sent three times.

Not called: `api_models_status_retrieve` / `api_models_status_create` (uptime metrics, which
modelgate does not serve).
"""
import os
import sys
import time

from respan import RespanClient
from respan.core.api_error import ApiError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../testkit/clients"))
from replaykit import Failure, Steps, check  # noqa: E402

NO_RETRY = {"max_retries": 0}


def expect_error(status, fn):
    """Runs fn, which must raise ApiError (or a typed subclass) with this status."""
    try:
        fn()
    except ApiError as error:
        check(error.status_code == status, f"expected HTTP {status}, got {error.status_code}: {error.body!r}")
        return error
    raise Failure(f"expected HTTP {status}, the call succeeded")


def main() -> int:
    base_url = os.environ.get("MODELGATE_URL", "").rstrip("/")
    key = os.environ.get("MODELGATE_KEY", "")
    if not base_url or not key:
        print("MODELGATE_URL and MODELGATE_KEY must be set", file=sys.stderr)
        return 2
    client = RespanClient(base_url=base_url, authorization=f"Bearer {key}", respan_api_key=key, timeout=30)
    m = client.models
    run = str(int(time.time() * 1000))
    provider = f"replay-prov-{run}"
    model = f"replay/{run}/model"  # slashes on purpose: the client puts them in the path raw
    extra = [f"replay/{run}/extra-{n}" for n in range(1, 4)]
    filters = {"model_name": {"operator": "icontains", "value": [f"replay/{run}/"]}}

    step = Steps()

    @step("create_custom_provider")
    def _():
        p = m.create_custom_provider(
            provider_id=provider, provider_name="Replay Provider",
            extra_kwargs={"base_url": "https://llm.example.com/v1", "timeout": 30}, request_options=NO_RETRY)
        check(p.id == provider and p.provider_id == provider, f"ids: {p.id!r}, {p.provider_id!r}")
        check(p.extra_kwargs == {"base_url": "https://llm.example.com/v1", "timeout": 30}, f"extra_kwargs: {p.extra_kwargs!r}")
        return f"id={p.id}"

    @step("list_custom_providers")
    def _():
        page = m.list_custom_providers(page=1, page_size=100, request_options=NO_RETRY)
        ids = [p.provider_id for p in page.results]
        check(provider in ids, f"{provider} not listed: {ids}")
        check(page.count >= 1, f"count {page.count}")
        one = m.list_custom_providers(page=1, page_size=1, request_options=NO_RETRY)
        check(len(one.results) == 1, f"page_size=1 gave {len(one.results)}")
        past = m.list_custom_providers(page=page.count + 1, page_size=1, request_options=NO_RETRY)
        check(past.results == [] and past.next is None, f"past the end: {past!r}")
        return f"count={page.count}"

    @step("create_custom_model")
    def _():
        created = m.create_custom_model(
            model_name=model, base_model_name="gpt-4o-mini", custom_provider_id=provider,
            input_cost=0.15, output_cost=0.6, cache_hit_input_cost=0.075, cache_creation_input_cost=0.2,
            max_context_window=128000, function_call=1, image_support=0,
            supported_params_override={"temperature": {"name": "temperature", "type": "number", "default": 1,
                                                        "range": {"min": 0, "max": 2}}},
            request_options=NO_RETRY)
        check(created.id == model and created.model_name == model, f"names: {created.id!r}")
        check(created.provider is not None and created.provider.provider_id == provider, f"provider: {created.provider!r}")
        check(created.max_context_window == 128000 and created.function_call == 1, f"{created!r}")
        again = m.create_custom_model(model_name=model, input_cost=0.2, request_options=NO_RETRY)
        check(again.input_cost == 0.2 and again.output_cost == 0.6, f"upsert: {again!r}")
        for name in extra:
            m.create_custom_model(model_name=name, custom_provider_id=None, input_cost=1.0, request_options=NO_RETRY)
        return f"id={created.id}"

    @step("filter_models")
    def _():
        # Iterated to the end: the pager asks for the next page until one comes back empty.
        names = [item.model_name for item in m.filter_models(
            page_size=2, sort_by="model_name", filters=filters, request_options=NO_RETRY)]
        check(names == sorted([model] + extra), f"names: {names}")
        nothing = list(m.filter_models(
            page_size=5, filters={"model_name": {"operator": "", "value": [f"none-{run}"]}}, request_options=NO_RETRY))
        check(nothing == [], f"an empty result: {nothing}")
        first = m.filter_models(page=1, page_size=5, request_options=NO_RETRY)
        check(first.response.count >= 4, f"count {first.response.count}")
        return f"{len(names)} models, page_size=2, stopped at the first empty page"

    @step("filter_models_summary")
    def _():
        mine = m.filter_models_summary(filters=filters, request_options=NO_RETRY).summary
        check((mine.total_count, mine.global_count, mine.custom_count) == (4, 0, 4), f"{mine!r}")
        everything = m.filter_models_summary(request_options=NO_RETRY).summary
        check(everything.total_count == everything.global_count + everything.custom_count, f"{everything!r}")
        check(everything.global_count > 0 and everything.custom_count >= 4, f"{everything!r}")
        return f"total={everything.total_count} global={everything.global_count} custom={everything.custom_count}"

    @step("retrieve_custom_model")
    def _():
        read = m.retrieve_custom_model(model, request_options=NO_RETRY)
        check(read.model_name == model and read.input_cost == 0.2, f"{read!r}")
        expect_error(404, lambda: m.retrieve_custom_model(f"replay/{run}/missing", request_options=NO_RETRY))
        return f"input_cost={read.input_cost}"

    @step("replace_custom_model")
    def _():
        replaced = m.replace_custom_model(
            model, custom_provider_id=provider, input_cost=0.3, output_cost=0.9, max_context_window=64000,
            function_call=1, image_support=1, request_options=NO_RETRY)
        check(replaced.input_cost == 0.3 and replaced.max_context_window == 64000, f"{replaced!r}")
        check(replaced.base_model_name is None, f"base not reset: {replaced.base_model_name!r}")
        return f"image_support={replaced.image_support}"

    @step("update_custom_model")
    def _():
        updated = m.update_custom_model(model, output_cost=0.7, image_support=0, request_options=NO_RETRY)
        check(updated.output_cost == 0.7 and updated.input_cost == 0.3 and updated.image_support == 0, f"{updated!r}")
        return f"output_cost={updated.output_cost}"

    @step("delete_custom_model")
    def _():
        for name in [model] + extra:
            check(m.delete_custom_model(name, request_options=NO_RETRY) is None, "delete returned something")
        expect_error(404, lambda: m.retrieve_custom_model(model, request_options=NO_RETRY))
        return f"{1 + len(extra)} deleted"

    @step("list_models")
    def _():
        nested = m.list_models(request_options=NO_RETRY)
        items = nested.models
        check(len(items) > 0, "the public catalog is empty")
        check(all(i.model_name for i in items), "an item without model_name")
        bare = m.list_models(unnest=True, request_options=NO_RETRY)
        check(isinstance(bare, list) and [i.model_name for i in bare] == [i.model_name for i in items], "unnest differs")
        return f"{len(items)} catalog models"

    @step("retrieve_custom_provider")
    def _():
        p = m.retrieve_custom_provider(provider, request_options=NO_RETRY)
        check(p.provider_name == "Replay Provider", f"{p!r}")
        return f"name={p.provider_name}"

    @step("update_custom_provider")
    def _():
        p = m.update_custom_provider(provider, provider_name="Replay (patched)", request_options=NO_RETRY)
        check(p.provider_name == "Replay (patched)" and p.extra_kwargs.get("timeout") == 30, f"{p!r}")
        return f"name={p.provider_name}"

    @step("replace_custom_provider")
    def _():
        p = m.replace_custom_provider(provider, provider_name="Replay (put)", extra_kwargs={"timeout": 10},
                                      request_options=NO_RETRY)
        check(p.provider_name == "Replay (put)" and p.extra_kwargs == {"timeout": 10}, f"{p!r}")
        return f"name={p.provider_name}"

    @step("delete_custom_provider")
    def _():
        check(m.delete_custom_provider(provider, request_options=NO_RETRY) is None, "delete returned something")
        expect_error(404, lambda: m.retrieve_custom_provider(provider, request_options=NO_RETRY))
        return "deleted"

    return step.run()

if __name__ == "__main__":
    sys.exit(main())
