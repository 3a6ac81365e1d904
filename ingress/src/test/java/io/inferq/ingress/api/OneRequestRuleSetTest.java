package io.inferq.ingress.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.job.ChatRequestRules;
import io.inferq.job.request.RequestError;
import io.inferq.job.request.RequestRejected;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code POST /v1/jobs}, batch lines and the Kafka contract check a request with the same rules
 * ({@link ChatRequestRules}) and report the same {@link RequestError}; the HTTP API renders it as an {@link ApiError}.
 */
class OneRequestRuleSetTest {
    private static final ServedModel M = new ServedModel("m", "inferq", 8192, 2048, 4096, List.of("p"));
    private final JobSubmissionParser parser = new JobSubmissionParser(List.of(M));

    private static RequestError rejection(Runnable check) {
        try {
            check.run();
        } catch (RequestRejected e) {
            return e.error();
        }
        throw new AssertionError("not refused");
    }

    /**
     * The Kafka contract cut a client's model name to 40 characters in {@code model_not_found}; the HTTP API echoed it
     * whole, however long. Both cut it now.
     */
    @Test
    void anUnknownModelsNameIsCutInTheMessageOverHttpAsOverKafka() {
        String longName = "x".repeat(5_000);
        ApiError e = ApiError.of(rejection(() -> parser.parse("{\"model\":\"" + longName + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", null, 0L)));
        assertThat(e.status()).isEqualTo(404);
        assertThat(e.code()).isEqualTo("model_not_found");
        assertThat(e.message()).hasSizeLessThan(200).contains("x".repeat(40) + "…");
        RequestError viaRules = rejection(() -> ChatRequestRules.model(longName, Map.of("m", M)));
        assertThat(e).isEqualTo(ApiError.of(viaRules));
        assertThat(viaRules.kind().deadLetterClass()).isEqualTo("io.inferq.dispatcher.runtime.contract.RequestContractException$Invalid");
    }

    @Test
    void theHttpAnswerIsTheSharedRulesError() {
        ApiError e = ApiError.of(rejection(() -> parser.parse("{\"model\":\"m\",\"max_tokens\":5000,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", null, 0L)));
        RequestError viaRules = rejection(() -> ChatRequestRules.maxTokens(5000L, "5000", M));
        assertThat(e).isEqualTo(ApiError.of(viaRules));
        assertThat(e.message()).isEqualTo("'max_tokens' must be between 1 and 2048 for m, was 5000");
        ApiError badRole = ApiError.of(rejection(() -> parser.parse("{\"model\":\"m\",\"messages\":[{\"role\":\"robot\",\"content\":\"hi\"}]}", null, 0L)));
        assertThat(badRole).isEqualTo(ApiError.of(rejection(() -> ChatRequestRules.role(0, "robot"))));
        assertThat(badRole.param()).isEqualTo("messages[0].role");
    }
}
