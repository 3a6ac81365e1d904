package io.inferq.job.request;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.job.JobLane;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** A {@link ChatRequest} cannot hold what the shared rules refuse; it refuses with the error every entry point reports. */
class ChatRequestTest {
    private static ChatRequest request(List<ChatRequest.Message> messages, Double temperature, String webhook, Set<String> events,
            Map<String, String> metadata) {
        return new ChatRequest("m", messages, 16, 8, temperature, JobLane.BATCH, webhook, events, metadata, null, null);
    }

    private static RequestError refusal(Runnable build) {
        try {
            build.run();
        } catch (RequestRejected e) {
            return e.error();
        }
        throw new AssertionError("not refused");
    }

    @Test
    void aValidRequestIsKeptAsGivenAndImmutable() {
        ChatRequest r = request(List.of(new ChatRequest.Message("user", "hi")), 0.5, "https://example.com/hook", Set.of("completed"),
                Map.of("k", "v"));
        assertThat(r.messages()).hasSize(1);
        assertThat(r.lane()).isEqualTo(JobLane.BATCH);
        assertThatThrownBy(() -> r.metadata().put("x", "y")).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void everySharedRuleHoldsInTheConstructor() {
        List<ChatRequest.Message> one = List.of(new ChatRequest.Message("user", "hi"));
        assertThat(refusal(() -> request(List.of(), null, null, Set.of("completed"), Map.of())).code()).isEqualTo("invalid_messages");
        RequestError role = refusal(() -> request(List.of(new ChatRequest.Message("robot", "hi")), null, null, Set.of("completed"), Map.of()));
        assertThat(role.code()).isEqualTo("invalid_role");
        assertThat(role.param()).isEqualTo("messages[0].role");
        assertThat(refusal(() -> request(one, 2.5, null, Set.of("completed"), Map.of())).code()).isEqualTo("invalid_temperature");
        assertThat(refusal(() -> request(one, null, "ftp://x", Set.of("completed"), Map.of())).code()).isEqualTo("invalid_webhook");
        assertThat(refusal(() -> request(one, null, null, Set.of("completed", "done"), Map.of())).code())
                .isEqualTo("invalid_webhook_events_filter");
        assertThat(refusal(() -> request(one, null, null, Set.of("completed"), Map.of("k", "v".repeat(600)))).code())
                .isEqualTo("invalid_metadata");
        assertThat(refusal(() -> new ChatRequest(" ", one, 16, 8, null, null, null, Set.of("completed"), Map.of(), null, null)).code())
                .isEqualTo("missing_model");
        assertThat(refusal(() -> new ChatRequest("m", one, 0, 8, null, null, null, Set.of("completed"), Map.of(), null, null)).kind())
                .isEqualTo(RequestError.Kind.INVALID);
    }
}
