package io.inferq.loadtests.kvcache;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.kvcache.hashing.BlockHasher;
import io.inferq.kvcache.hashing.HashSeed;
import io.inferq.loadtests.policy.TraceRequest;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class TracePrefixSynthesizerTest {

    private final TracePrefixSynthesizer synth = TracePrefixSynthesizer.mooncake();
    private final BlockHasher hasher = new BlockHasher(HashSeed.derive("deepseek-v3", "trace-synthetic", ""), 64);

    @Test
    void blocksAreDeterministicAndDistinct() {
        assertThat(synth.blockTokens(5)).isEqualTo(TracePrefixSynthesizer.mooncake().blockTokens(5));
        assertThat(synth.blockTokens(5)).isNotEqualTo(synth.blockTokens(6));
        assertThat(synth.blockTokens(5)).hasSize(512);
        assertThat(Arrays.stream(synth.blockTokens(5)).allMatch(t -> t >= 0 && t < 200_000)).isTrue();
    }

    @Test
    void replayedPromptsShareExactlyWhatTheTraceShares() {
        TraceRequest a = new TraceRequest(0, 3 * 512, 1, List.of(0L, 1L, 2L));
        TraceRequest b = new TraceRequest(0, 2 * 512 + 130, 1, List.of(0L, 1L, 9L));
        int[] ta = synth.promptTokens(a);
        int[] tb = synth.promptTokens(b);
        assertThat(tb).hasSize(2 * 512 + 130);
        assertThat(Arrays.copyOf(ta, 1024)).isEqualTo(Arrays.copyOf(tb, 1024));
        List<Long> ha = hasher.blockHashes(ta);
        List<Long> hb = hasher.blockHashes(tb);
        assertThat(ha).hasSize(24);                         // 8 inference blocks per trace block
        assertThat(hb).hasSize(16 + 2);                     // partial trace block: only its 2 full 64-token blocks
        assertThat(ha.subList(0, 16)).isEqualTo(hb.subList(0, 16));
        assertThat(ha.get(16)).isNotEqualTo(hb.get(16));
        assertThat(ha.get(17)).isNotEqualTo(hb.get(17));
    }
}
