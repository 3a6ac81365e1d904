package io.inferq.workers.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.workers.backend.SequenceWork;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

class PrefixStoringTokenSinkTest {

    @Test
    void aPrefilledSequenceIsStoredOnceAndRecordedAndTextPiecesPassThrough() {
        List<String> storedCalls = new ArrayList<>();
        PrefixCacheHook hook = new PrefixCacheHook() {
            @Override
            public int cachedPrefixTokens(String poolId, String tenant, SequenceWork work) {
                return 0;
            }

            @Override
            public void stored(String poolId, String tenant, SequenceWork work) {
                storedCalls.add(poolId + "/" + tenant + "/" + work.jobId());
            }
        };
        List<String> pieces = new ArrayList<>();
        SequenceWork a = new SequenceWork("a", "m", List.of(new SequenceWork.Message("user", "hi")), 10, 5, null, 0, null,
                false);
        Set<String> stored = ConcurrentHashMap.newKeySet();
        PrefixStoringTokenSink sink = new PrefixStoringTokenSink((job, text) -> pieces.add(job + ":" + text), hook, "p",
                Map.of("a", a), Map.of("a", "t1"), stored);

        sink.tokens("a", "hel");
        sink.prefilled("a");
        sink.prefilled("a"); // a preempted sequence prefilled again: stored once
        sink.prefilled("unknown"); // not a sequence of this batch

        assertThat(pieces).containsExactly("a:hel");
        assertThat(storedCalls).containsExactly("p/t1/a");
        assertThat(stored).containsExactly("a");
    }
}
