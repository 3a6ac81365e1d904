package io.inferq.workers.chips;

/**
 * The efficiency factors a {@link RooflineModel} applies to a chip's peak figures. Real engines reach a
 * fraction of peak; these defaults are typical of well-tuned serving engines on NVIDIA parts and are
 * probably optimistic for younger software stacks (calibrate per chip with measured numbers when an
 * engine is available).
 *
 * @param mfu                        model FLOPs utilisation during prefill, in (0, 1]; default
 *                                   {@value #DEFAULT_MFU} (vLLM/SGLang prefill commonly reaches 30-50 %)
 * @param mbu                        memory bandwidth utilisation during decode, in (0, 1]; default
 *                                   {@value #DEFAULT_MBU} (decode kernels commonly reach 50-70 %)
 * @param memoryUtilisation          share of device memory the engine may use for weights and KV cache,
 *                                   in (0, 1]; default {@value #DEFAULT_MEMORY_UTILISATION}, vLLM's
 *                                   {@code gpu_memory_utilization} default (the rest is activations,
 *                                   CUDA graphs, fragmentation)
 * @param networkBytesPerSecond      bandwidth for moving cached KV blocks between instances; default
 *                                   {@value #DEFAULT_NETWORK_BYTES_PER_SECOND} (25 GB/s, one 200 Gb/s RDMA NIC)
 */
public record RooflineAssumptions(double mfu, double mbu, double memoryUtilisation, double networkBytesPerSecond) {
    public static final double DEFAULT_MFU = 0.4;
    public static final double DEFAULT_MBU = 0.6;
    public static final double DEFAULT_MEMORY_UTILISATION = 0.9;
    public static final double DEFAULT_NETWORK_BYTES_PER_SECOND = 25e9;

    public RooflineAssumptions {
        requireFraction(mfu, "mfu");
        requireFraction(mbu, "mbu");
        requireFraction(memoryUtilisation, "memoryUtilisation");
        if (!(networkBytesPerSecond > 0) || Double.isInfinite(networkBytesPerSecond)) {
            throw new IllegalArgumentException("networkBytesPerSecond must be positive and finite, was "
                    + networkBytesPerSecond);
        }
    }

    public static RooflineAssumptions defaults() {
        return new RooflineAssumptions(DEFAULT_MFU, DEFAULT_MBU, DEFAULT_MEMORY_UTILISATION,
                DEFAULT_NETWORK_BYTES_PER_SECOND);
    }

    public RooflineAssumptions withMemoryUtilisation(double value) {
        return new RooflineAssumptions(mfu, mbu, value, networkBytesPerSecond);
    }

    public RooflineAssumptions withNetworkBytesPerSecond(double value) {
        return new RooflineAssumptions(mfu, mbu, memoryUtilisation, value);
    }

    private static void requireFraction(double value, String name) {
        if (!(value > 0 && value <= 1)) {
            throw new IllegalArgumentException(name + " must be in (0, 1], was " + value);
        }
    }
}
