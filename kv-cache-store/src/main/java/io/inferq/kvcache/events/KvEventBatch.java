package io.inferq.kvcache.events;

import java.io.IOException;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.Value;

/**
 * One vLLM KV-cache event batch, decoded from its msgpack payload: {@code EventBatch [ts, events, data_parallel_rank]}
 * (also accepted as a map with those field names). Events come as positional arrays tagged by their first element
 * ({@code ["BlockStored", block_hashes, parent_block_hash, token_ids, block_size, lora_id, medium, ...]},
 * {@code ["BlockRemoved", block_hashes, medium]}, {@code ["AllBlocksCleared"]}) or, from mid-2026 on, as maps tagged
 * by {@code "type"} with the same field names; both are accepted. Unknown event types are skipped.
 *
 * <p>Engine block hashes are integers (any width) or byte strings depending on the vLLM version and
 * {@code --prefix-caching-hash-algo}; they are kept as opaque strings ({@link #hashKey}).
 *
 * @param timestamp    the batch's time (engine seconds)
 * @param events       in order
 * @param dpRank       the data-parallel rank, or null
 */
public record KvEventBatch(double timestamp, List<Event> events, Integer dpRank) {

    /** A KV-cache event. */
    public sealed interface Event permits BlockStored, BlockRemoved, AllBlocksCleared {
    }

    /** Blocks the engine now holds; {@code tokenIds} are the tokens of all of them, {@code blockSize} per block. */
    public record BlockStored(List<String> blockHashes, String parentBlockHash, int[] tokenIds, int blockSize,
                              boolean lora, String medium) implements Event {
    }

    /** Blocks the engine dropped from {@code medium} (null: the default, the GPU). */
    public record BlockRemoved(List<String> blockHashes, String medium) implements Event {
    }

    /** The engine dropped everything. */
    public record AllBlocksCleared() implements Event {
    }

    /** @throws IllegalArgumentException if the payload is not an event batch */
    public static KvEventBatch decode(byte[] payload) {
        Value root;
        try (MessageUnpacker u = MessagePack.newDefaultUnpacker(payload)) {
            root = u.unpackValue();
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("not msgpack: " + e.getMessage(), e);
        }
        Value ts;
        Value events;
        Value rank;
        if (root.isArrayValue()) {
            List<Value> a = root.asArrayValue().list();
            if (a.size() < 2) {
                throw new IllegalArgumentException("event batch has " + a.size() + " fields, needs [ts, events, dp_rank]");
            }
            ts = a.get(0);
            events = a.get(1);
            rank = a.size() > 2 ? a.get(2) : null;
        } else if (root.isMapValue()) {
            Map<String, Value> m = fields(root);
            ts = m.get("ts");
            events = m.get("events");
            rank = m.get("data_parallel_rank");
        } else {
            throw new IllegalArgumentException("event batch is neither an array nor a map");
        }
        if (events == null || !events.isArrayValue()) {
            throw new IllegalArgumentException("event batch without an events list");
        }
        List<Event> out = new ArrayList<>();
        for (Value e : events.asArrayValue()) {
            Event ev = event(e);
            if (ev != null) {
                out.add(ev);
            }
        }
        double t = ts != null && ts.isNumberValue() ? (ts.isFloatValue() ? ts.asFloatValue().toDouble()
                : ts.asIntegerValue().asLong()) : 0;
        Integer r = rank != null && rank.isIntegerValue() ? rank.asIntegerValue().asInt() : null;
        return new KvEventBatch(t, List.copyOf(out), r);
    }

    private static Map<String, Value> fields(Value map) {
        Map<String, Value> m = new java.util.HashMap<>();
        map.asMapValue().map().forEach((k, v) -> {
            if (k.isStringValue()) {
                m.put(k.asStringValue().asString(), v);
            }
        });
        return m;
    }

    private static Event event(Value e) {
        String type;
        Map<String, Value> f;
        if (e.isArrayValue()) {
            List<Value> a = e.asArrayValue().list();
            if (a.isEmpty() || !a.get(0).isStringValue()) {
                return null;
            }
            type = a.get(0).asStringValue().asString();
            f = new java.util.HashMap<>();
            List<String> names = switch (type) {
                case "BlockStored" -> List.of("block_hashes", "parent_block_hash", "token_ids", "block_size", "lora_id",
                        "medium", "lora_name");
                case "BlockRemoved" -> List.of("block_hashes", "medium");
                default -> List.of();
            };
            for (int i = 0; i < names.size() && i + 1 < a.size(); i++) {
                f.put(names.get(i), a.get(i + 1));
            }
        } else if (e.isMapValue()) {
            f = fields(e);
            Value t = f.get("type");
            if (t == null || !t.isStringValue()) {
                return null;
            }
            type = t.asStringValue().asString();
        } else {
            return null;
        }
        switch (type) {
            case "BlockStored": {
                Value tokens = f.get("token_ids");
                Value size = f.get("block_size");
                if (tokens == null || !tokens.isArrayValue() || size == null || !size.isIntegerValue()) {
                    throw new IllegalArgumentException("BlockStored without token_ids or block_size");
                }
                List<Value> tl = tokens.asArrayValue().list();
                int[] ids = new int[tl.size()];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = tl.get(i).asIntegerValue().asInt();
                }
                boolean lora = notNil(f.get("lora_id")) || notNil(f.get("lora_name"));
                return new BlockStored(hashes(f.get("block_hashes")), hashKey(f.get("parent_block_hash")), ids,
                        size.asIntegerValue().asInt(), lora, string(f.get("medium")));
            }
            case "BlockRemoved":
                return new BlockRemoved(hashes(f.get("block_hashes")), string(f.get("medium")));
            case "AllBlocksCleared":
                return new AllBlocksCleared();
            default:
                return null;
        }
    }

    private static boolean notNil(Value v) {
        return v != null && !v.isNilValue();
    }

    private static String string(Value v) {
        return v != null && v.isStringValue() ? v.asStringValue().asString() : null;
    }

    private static List<String> hashes(Value v) {
        if (v == null || !v.isArrayValue()) {
            throw new IllegalArgumentException("event without block_hashes");
        }
        List<String> out = new ArrayList<>();
        for (Value h : v.asArrayValue()) {
            out.add(hashKey(h));
        }
        return out;
    }

    /** An engine block hash as an opaque key: decimal for integers, {@code b:<hex>} for bytes; null for nil. */
    static String hashKey(Value v) {
        if (v == null || v.isNilValue()) {
            return null;
        }
        if (v.isIntegerValue()) {
            BigInteger b = v.asIntegerValue().asBigInteger();
            return b.toString();
        }
        if (v.isBinaryValue()) {
            return "b:" + HexFormat.of().formatHex(v.asBinaryValue().asByteArray());
        }
        if (v.isStringValue()) {
            return "s:" + v.asStringValue().asString();
        }
        return "v:" + v.toJson();
    }
}
