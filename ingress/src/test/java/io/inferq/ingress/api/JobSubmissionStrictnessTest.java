package io.inferq.ingress.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * The body of {@code POST /v1/jobs} is read exactly: numbers on their exact value (no wrap-around, no rounding), one
 * value per key, booleans that are booleans; and two bodies that are the same JSON are the same request.
 */
class JobSubmissionStrictnessTest {
    private final JobSubmissionParser parser = new JobSubmissionParser(List.of(new ServedModel("m", "inferq", 8192, 2048, 4096,
            List.of("p"))));
    private static final String MESSAGES = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";

    private ParseOutcome parse(String extra) {
        return ParseOutcome.of(() -> parser.parse("{\"model\":\"m\"," + MESSAGES + extra + "}", null, 1_000_000L));
    }

    private static void assertRefused(ParseOutcome p, String code, String param) {
        assertThat(p.error()).as("refused").isNotNull();
        assertThat(p.error().status()).isEqualTo(400);
        assertThat(p.error().code()).isEqualTo(code);
        assertThat(p.error().param()).isEqualTo(param);
    }

    @ParameterizedTest(name = "max_tokens {0}")
    @CsvSource({
        "18446744073709551620", // 2^64 + 4: wrapped to 4 as a long
        "18446744073709551617", // 2^64 + 1
        "-18446744073709551612", // wraps to 4 too
        "9223372036854775808", // 2^63: Long.MIN_VALUE as a long
        "4294967300", // 2^32 + 4: 4 as an int
        "1e400",
        "4.0000000000000000001", // 4.0 as a double
        "4e-1",
        "-0",
    })
    void anIntegerOutOfRangeOrNotWholeIsRefusedOnItsExactValue(String value) {
        assertRefused(parse(",\"max_tokens\":" + value), "invalid_max_tokens", "max_tokens");
        assertRefused(parse(",\"max_completion_tokens\":" + value), "invalid_max_tokens", "max_tokens");
    }

    @Test
    void theRefusalNamesTheExactValue() {
        assertThat(parse(",\"max_tokens\":18446744073709551620").error().message()).contains("18446744073709551620");
    }

    @Test
    void wholeNumbersWrittenAsDecimalsAreTheirValue() {
        assertThat(parse(",\"max_tokens\":4.0").submission().maxTokens()).isEqualTo(4);
        assertThat(parse(",\"max_tokens\":4E0").submission().maxTokens()).isEqualTo(4);
        assertThat(parse(",\"max_tokens\":2048").submission().maxTokens()).isEqualTo(2048);
    }

    @ParameterizedTest(name = "n {0}")
    @CsvSource({"18446744073709551617", "1.0000000000000000001", "2", "0"})
    void nMustBeExactlyOne(String value) {
        assertRefused(parse(",\"n\":" + value), "unsupported_parameter", "n");
    }

    @Test
    void nOfOneIsAccepted() {
        assertThat(parse(",\"n\":1").error()).isNull();
        assertThat(parse(",\"n\":1.0").error()).isNull();
    }

    @ParameterizedTest(name = "stream {0}")
    @CsvSource(delimiter = '|', value = {"\"true\"", "\"false\"", "1", "0", "\"yes\"", "[true]", "{}"})
    void streamMustBeABoolean(String value) {
        assertRefused(parse(",\"stream\":" + value), "invalid_type", "stream");
    }

    @Test
    void streamFalseIsAccepted() {
        assertThat(parse(",\"stream\":false").error()).isNull();
    }

    @Test
    void aRepeatedKeyIsRefusedAndNamed() {
        assertRefused(ParseOutcome.of(() -> parser.parse("{\"model\":\"m\",\"model\":\"m\"," + MESSAGES + "}", null, 1_000_000L)), "duplicate_key", "model");
        assertRefused(parse(",\"max_tokens\":4,\"max_tokens\":4000000"), "duplicate_key", "max_tokens");
        assertRefused(ParseOutcome.of(() -> parser.parse("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\",\"content\":\"b\"}]}", null,
                1_000_000L)), "duplicate_key", "messages[0].content");
        assertRefused(parse(",\"metadata\":{\"k\":\"1\",\"k\":\"2\"}"), "duplicate_key", "metadata.k");
        assertThat(parse(",\"max_tokens\":4,\"max_tokens\":4").error().message()).contains("'max_tokens'");
    }

    @Test
    void theSameJsonWrittenDifferentlyIsTheSameRequest() {
        String a = "{\"model\":\"m\"," + MESSAGES + ",\"max_tokens\":4,\"metadata\":{\"a\":\"1\",\"b\":\"2\"}}";
        String b = "{ \"max_tokens\" : 4.0 ,\n \"metadata\": {\"b\":\"2\", \"a\":\"1\"},\"messages\" : [ {\"content\":\"h\\u0069\", "
                + "\"role\":\"user\"} ],\t\"model\":\"m\" }";
        String other = a.replace("\"hi\"", "\"ho\"");
        String hash = parser.parse(a, null, 1_000_000L).requestHash();
        assertThat(parser.parse(b, null, 1_000_000L).requestHash()).isEqualTo(hash);
        assertThat(parser.parse(other, null, 1_000_000L).requestHash()).isNotEqualTo(hash);
    }

    @Test
    void deeplyNestedBodiesAreRefusedAsJson() {
        String deep = "[".repeat(5000) + "]".repeat(5000);
        ParseOutcome p = ParseOutcome.of(() -> parser.parse("{\"model\":\"m\"," + MESSAGES + ",\"metadata\":" + deep + "}", null, 1_000_000L));
        assertThat(p.error()).isNotNull();
        assertThat(p.error().status()).isEqualTo(400);
    }
}
