"""Runs in the Python 3.12 venv that has Bindu (from PyPI) and the bindu-schema wheel; not
a test module. Drives Bindu's own PostgresStorage in public (no DID) or in the tenant of
a DID, whose schema ensure_tenant_async creates first on Bindu's own engine. Prints one
JSON object of what it observed; tests/test_bindu_storage.py asserts on it.

    python bindu_driver.py POSTGRES_URL [DID]
"""

import asyncio
import json
import sys
import uuid

from bindu.server.storage.postgres_storage import PostgresStorage

import bindu_schema

OWNER = "did:bindu:owner"
OTHER = "did:bindu:intruder"


def message(context_id: uuid.UUID, task_id: uuid.UUID, text: str) -> dict:
    return {
        "message_id": uuid.uuid4(),
        "context_id": context_id,
        "task_id": task_id,
        "kind": "message",
        "role": "user",
        "parts": [{"kind": "text", "text": text}],
    }


async def main(url: str, did: str | None) -> dict:
    seen: dict = {}
    storage = PostgresStorage(database_url=url, did=did)
    if did:
        # What Bindu's connect() would do first (docs/integrating-bindu.md): the schema
        # from the packaged revisions, on Bindu's own AsyncEngine, before create_all.
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(storage.database_url)
        seen["schema"] = await bindu_schema.ensure_tenant_async(engine, did)
        seen["schema_again"] = await bindu_schema.ensure_tenant_async(engine, did)
        await engine.dispose()
    await storage.connect()
    try:
        ctx, task_id = uuid.uuid4(), uuid.uuid4()
        task = await storage.submit_task(ctx, message(ctx, task_id, "hello"), caller_did=OWNER)
        seen["submitted"] = task["status"]["state"]
        seen["kind"] = task["kind"]

        working = await storage.update_task(
            task_id, "working", new_messages=[message(ctx, task_id, "more")]
        )
        seen["history_after_append"] = len(working["history"])
        done = await storage.update_task(
            task_id,
            "completed",
            new_artifacts=[
                {"artifact_id": uuid.uuid4(), "parts": [{"kind": "text", "text": "answer"}]}
            ],
            metadata={"source": "bindu-schema test"},
        )
        seen["completed"] = done["status"]["state"]
        seen["artifacts"] = len(done.get("artifacts") or [])
        loaded = await storage.load_task(task_id)
        seen["loaded_history"] = len(loaded["history"])
        seen["metadata"] = loaded.get("metadata")

        await storage.append_to_contexts(ctx, [message(ctx, task_id, "context note")])
        context = await storage.load_context(ctx)
        seen["context_loaded"] = context is not None

        await storage.store_task_feedback(task_id, {"rating": 5, "comment": "good"})
        await storage.store_task_feedback(task_id, {"rating": 4})
        seen["feedback"] = len(await storage.get_task_feedback(task_id) or [])

        config = {"id": uuid.uuid4(), "url": "https://example.invalid/hook", "token": "t"}
        await storage.save_webhook_config(task_id, config)
        await storage.save_webhook_config(task_id, {**config, "token": "t2"})  # upsert
        stored = await storage.load_webhook_config(task_id)
        seen["webhook_token"] = stored["token"] if stored else None
        seen["webhooks_all"] = len(await storage.load_all_webhook_configs())
        await storage.delete_webhook_config(task_id)
        seen["webhook_after_delete"] = await storage.load_webhook_config(task_id)

        seen["task_owner"] = await storage.get_task_owner(task_id)
        seen["context_owner"] = await storage.get_context_owner(ctx)
        try:
            await storage.submit_task(
                ctx, message(ctx, uuid.uuid4(), "not yours"), caller_did=OTHER
            )
            seen["intruder"] = "accepted"
        except Exception as exc:  # Bindu's OwnershipError
            seen["intruder"] = type(exc).__name__

        seen["count"] = await storage.count_tasks()
        seen["by_context"] = len(await storage.list_tasks_by_context(ctx))
        seen["listed"] = len(await storage.list_tasks())

        # a second conversation left in place for the trigger check of the test
        keep_ctx, keep_task = uuid.uuid4(), uuid.uuid4()
        await storage.submit_task(keep_ctx, message(keep_ctx, keep_task, "keep"), caller_did=OWNER)
        seen["kept_context"] = str(keep_ctx)
        seen["kept_task"] = str(keep_task)

        await storage.clear_context(ctx)
        seen["task_after_clear"] = await storage.load_task(task_id)
        seen["feedback_after_clear"] = len(await storage.get_task_feedback(task_id) or [])
    finally:
        await storage.close()
    return seen


if __name__ == "__main__":
    result = asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
    print(json.dumps(result, default=str))
