#!/usr/bin/env python3
"""Replays LMCache's Redis remote connector call sequence against a Redis-protocol server.

LMCache (remote_url: redis://host:port) stores each KV chunk as two keys: `<key>kv_bytes` (the chunk, about
18 MB for 256 DeepSeek-V3 tokens) and `<key>metadata` (a small struct). Per chunk it SETs kv_bytes, then
metadata; a lookup is EXISTS <key>metadata; a retrieve GETs metadata, then kv_bytes, and when kv_bytes is
gone (evicted) it DELs the metadata key. The client is redis-py's asyncio client, as in LMCache.

Usage: lmcache_redis_replay.py redis://127.0.0.1:PORT [chunks] [chunk_bytes] [concurrency]
Exit 0 and a "N passed, 0 failed" line when every step returned what Redis would.
"""
import asyncio
import hashlib
import os
import struct
import sys

import redis
import redis.asyncio as aioredis


def chunk_key(i):
    # LMCache's CacheEngineKey.to_string(): fmt@model@world_size@worker_id@chunk_hash
    return "vllm@deepseek-ai/DeepSeek-V3@8@0@%016x" % (0x9E3779B97F4A7C15 * (i + 1) & 0xFFFFFFFFFFFFFFFF)


def metadata(length):
    # RemoteMetadata: length, kv shape (4 ints), dtype, format
    return struct.pack("<iiiiiii", length, 61, 2, 256, 576, 2, 1)


async def one_chunk(client, i, chunk_bytes, results):
    key = chunk_key(i)
    kv = os.urandom(chunk_bytes)
    meta = metadata(len(kv))
    await client.set(key + "kv_bytes", kv)
    await client.set(key + "metadata", meta)
    ok = bool(await client.exists(key + "metadata"))
    got_meta = await client.get(key + "metadata")
    got_kv = await client.get(key + "kv_bytes")
    ok = ok and got_meta == meta and got_kv is not None and hashlib.sha256(got_kv).digest() == hashlib.sha256(kv).digest()
    results.append(("chunk %d put/exists/get" % i, ok))


async def evicted_bytes(client, results):
    # kv_bytes evicted: LMCache finds metadata, misses kv_bytes, and deletes the metadata key
    key = chunk_key(10_000)
    await client.set(key + "kv_bytes", b"x" * 1024)
    await client.set(key + "metadata", metadata(1024))
    await client.delete(key + "kv_bytes")
    ok = await client.get(key + "metadata") is not None
    ok = ok and await client.get(key + "kv_bytes") is None
    ok = ok and await client.delete(key + "metadata") == 1
    ok = ok and await client.exists(key + "metadata") == 0
    results.append(("evicted kv_bytes -> DEL metadata", ok))


async def main():
    url = sys.argv[1]
    chunks = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    chunk_bytes = int(sys.argv[3]) if len(sys.argv) > 3 else 18 * 1024 * 1024
    concurrency = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    results = []
    # redis-py speaks RESP3 from 5.0 on (Debian 12 ships 4.3: RESP2 only)
    resp3 = int(redis.__version__.split(".")[0]) >= 5
    for protocol in ((2, 3) if resp3 else (2,)):
        options = {"protocol": protocol} if resp3 else {}
        client = aioredis.from_url(url, decode_responses=False, **options)
        try:
            results.append(("PING RESP%d" % protocol, await client.ping()))
            sem = asyncio.Semaphore(concurrency)

            async def bounded(i):
                async with sem:
                    await one_chunk(client, i, chunk_bytes, results)

            await asyncio.gather(*(bounded(i + 100 * protocol) for i in range(chunks)))
            await evicted_bytes(client, results)
        finally:
            close = getattr(client, "aclose", None) or client.close
            await close()
    failed = [name for name, ok in results if not ok]
    for name in failed:
        print("FAILED:", name)
    print("%d passed, %d failed" % (len(results) - len(failed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
