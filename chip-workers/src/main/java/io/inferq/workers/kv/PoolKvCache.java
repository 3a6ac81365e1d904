package io.inferq.workers.kv;

import io.inferq.kvcache.KvFormat;
import io.inferq.kvcache.KvGeometry;
import io.inferq.kvcache.hashing.PrefixHashing;
import io.inferq.kvcache.store.KvBlockStore;
import io.inferq.workers.chips.ModelProfile;
import io.inferq.workers.chips.WeightPrecision;
import io.inferq.workers.pool.PoolPlan;
import java.util.Locale;
import java.util.Objects;

/**
 * What {@link KvPrefixCacheHook} needs about one pool in this process: the pool's block store (whose
 * {@link io.inferq.kvcache.index.BlockHolder} names this process's worker and the pool), the KV format of
 * its bytes, and the payload size of one block.
 *
 * @param store               the pool's two-tier store in this process
 * @param format              chip family, KV dtype, layout, block size, model
 * @param payloadBytesPerBlock bytes of one stored block (positive)
 */
public record PoolKvCache(KvBlockStore store, KvFormat format, int payloadBytesPerBlock) {

    public PoolKvCache {
        Objects.requireNonNull(store, "store must not be null");
        Objects.requireNonNull(format, "format must not be null");
        if (payloadBytesPerBlock <= 0) {
            throw new IllegalArgumentException("payloadBytesPerBlock must be positive, was " + payloadBytesPerBlock);
        }
    }

    /**
     * The pool's cache as the plan describes it: format (chip family from the chip profile, KV dtype from the
     * precision the weights are held in, {@link PrefixHashing#LAYOUT}, the hashing's block size, the pool's
     * model) and full-size payloads from {@link #geometry}.
     */
    public static PoolKvCache forPool(PoolPlan plan, KvBlockStore store, PrefixHashing hashing) {
        return forPool(plan, store, hashing, 1);
    }

    /**
     * As {@link #forPool(PoolPlan, KvBlockStore, PrefixHashing)}, with payloads {@code scaleDown} times
     * smaller than the real KV (for a simulated fleet on a laptop: capacity is then counted in blocks at the
     * scaled size; 1 = real size).
     */
    public static PoolKvCache forPool(PoolPlan plan, KvBlockStore store, PrefixHashing hashing, int scaleDown) {
        if (scaleDown <= 0) {
            throw new IllegalArgumentException("scaleDown must be positive, was " + scaleDown);
        }
        WeightPrecision precision = plan.roofline().precision();
        KvFormat format = new KvFormat(plan.chip().family(), dtype(precision), PrefixHashing.LAYOUT,
                hashing.blockSize(), plan.spec().model());
        long bytes = geometry(plan.model(), precision).bytesPerBlock(hashing.blockSize());
        return new PoolKvCache(store, format, (int) Math.max(1, bytes / scaleDown));
    }

    /** KV dtype name for a weight precision: the KV cache is kept in the precision the engine computes in. */
    public static String dtype(WeightPrecision precision) {
        return precision.name().toLowerCase(Locale.ROOT);
    }

    /**
     * The model's KV geometry at {@code precision}: the catalogue's BF16 bytes per token over its layers
     * gives values per token per layer (576 for MLA); FP8 and INT8 keep one byte per value, BF16 two.
     *
     * @throws IllegalArgumentException if the catalogue figure is not a whole number of BF16 values per layer
     */
    public static KvGeometry geometry(ModelProfile model, WeightPrecision precision) {
        long perLayerBf16 = model.kvBytesPerToken() / model.layers();
        if (perLayerBf16 * model.layers() != model.kvBytesPerToken() || perLayerBf16 % 2 != 0) {
            throw new IllegalArgumentException("model " + model.name() + ": kvBytesPerToken " + model.kvBytesPerToken()
                    + " is not 2 B × values × " + model.layers() + " layers");
        }
        int bytesPerValue = precision == WeightPrecision.BF16 ? 2 : 1;
        return new KvGeometry(model.name() + "-" + dtype(precision), model.layers(),
                Math.toIntExact(perLayerBf16 / 2), bytesPerValue);
    }
}
