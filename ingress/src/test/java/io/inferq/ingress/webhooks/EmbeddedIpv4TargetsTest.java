package io.inferq.ingress.webhooks;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.job.ChatRequestRules;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * IPv6 forms that carry an IPv4 address (NAT64, 6to4, IPv4-compatible, Teredo) are checked as the IPv4 address they
 * reach; and a webhook port must be 1-65535.
 */
class EmbeddedIpv4TargetsTest {
    private final WebhookTargetPolicy strict = new WebhookTargetPolicy(false, List.of());

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "http://[64:ff9b::7f00:1]/|loopback", // NAT64 well-known prefix, 127.0.0.1
            "http://[64:ff9b::10.0.0.1]/|private (10/8)",
            "http://[64:ff9b::a9fe:a9fe]/|metadata", // 169.254.169.254
            "http://[64:ff9b:1::a00:1]/|NAT64", // local-use NAT64 prefix
            "http://[2002:7f00:1::]/|loopback", // 6to4 of 127.0.0.1
            "http://[2002:c0a8:101::1]/|private (192.168/16)",
            "http://[2002:a9fe:a9fe::]/|metadata",
            "http://[::127.0.0.1]/|loopback", // IPv4-compatible
            "http://[::10.1.2.3]/|private (10/8)",
            "http://[::a9fe:a9fe]/|metadata",
            "http://[2001:0::1]/|Teredo",
            "http://[::1]/|loopback",
            "http://[::]/|unspecified"})
    void anEmbeddedInternalIpv4IsRefused(String url, String reason) {
        assertThat(strict.check(url)).isNotNull().contains(reason);
    }

    @ParameterizedTest
    @ValueSource(strings = {"http://[64:ff9b::808:808]/", "http://[2002:808:808::1]/", "http://[::8.8.8.8]/"})
    void anEmbeddedPublicIpv4IsAccepted(String url) {
        assertThat(strict.check(url)).isNull();
    }

    @ParameterizedTest
    @ValueSource(strings = {"http://example.com:0/hook", "http://example.com:65536/hook", "https://example.com:99999/",
        "http://93.184.216.34:0/", "http://example.com:4294967297/"})
    void aPortOutside1To65535IsRefused(String url) {
        String problem = ChatRequestRules.webhookProblem(url);
        if (problem == null) {
            problem = strict.check(url);
        }
        assertThat(problem).as(url).isNotNull();
        assertThat(ChatRequestRules.webhookProblem(url)).as("refused by the rules every entry point shares: " + url).isNotNull();
    }

    @ParameterizedTest
    @ValueSource(strings = {"http://example.com:1/", "https://example.com:65535/x", "https://example.com/x"})
    void aPortInRangeIsAccepted(String url) {
        assertThat(ChatRequestRules.webhookProblem(url)).isNull();
        assertThat(strict.check(url)).isNull();
    }
}
