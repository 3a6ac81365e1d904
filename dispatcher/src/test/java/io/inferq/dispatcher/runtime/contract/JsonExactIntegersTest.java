package io.inferq.dispatcher.runtime.contract;

import static io.inferq.dispatcher.runtime.contract.ContractRecords.chat;
import static io.inferq.dispatcher.runtime.contract.ContractRecords.json;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The Kafka JSON contract range-checks integers on their exact value, as the HTTP API does: no wrap-around, no rounding. */
class JsonExactIntegersTest {

    @ParameterizedTest(name = "max_tokens {0}")
    @CsvSource({"18446744073709551620", "-18446744073709551612", "9223372036854775808", "4294967300", "1e400",
        "4.0000000000000000001"})
    void anOutOfRangeOrFractionalMaxTokensIsRefused(String value) {
        var r = ContractRecords.open().apply(json(chat("\"max_tokens\":" + value)));
        assertThat(r.errorCode()).as("max_tokens " + value).isEqualTo("invalid_max_tokens");
        assertThat(r.request()).isNull();
    }

    @ParameterizedTest(name = "n {0}")
    @CsvSource({"18446744073709551617", "1.0000000000000000001"})
    void nMustBeExactlyOne(String value) {
        var r = ContractRecords.open().apply(json(chat("\"n\":" + value)));
        assertThat(r.errorCode()).isEqualTo("unsupported_parameter");
    }

    @ParameterizedTest(name = "max_tokens {0}")
    @CsvSource({"4", "4.0"})
    void aWholeNumberIsItsValue(String value) {
        var r = ContractRecords.open().apply(json(chat("\"max_tokens\":" + value)));
        assertThat(r.errorCode()).isNull();
        assertThat(r.request().getMaxTokens()).isEqualTo(4);
    }
}
