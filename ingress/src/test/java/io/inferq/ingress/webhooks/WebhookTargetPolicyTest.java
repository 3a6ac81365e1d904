package io.inferq.ingress.webhooks;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class WebhookTargetPolicyTest {
    private final WebhookTargetPolicy strict = new WebhookTargetPolicy(false, List.of());

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "http://127.0.0.1/hook|loopback",
            "http://127.9.9.9:8080/|loopback",
            "http://[::1]/|loopback",
            "http://10.1.2.3/|private (10/8)",
            "http://172.16.0.1/|private (172.16/12)",
            "http://172.31.255.255/|private (172.16/12)",
            "http://192.168.1.1/|private (192.168/16)",
            "http://[fc00::1]/|private (fc00::/7)",
            "http://[fd12:3456::1]/|private (fc00::/7)",
            "http://169.254.10.10/|link-local (169.254/16)",
            "http://[fe80::1]/|link-local (fe80::/10)",
            "http://100.64.0.1/|carrier-grade NAT",
            "http://100.127.255.254/|carrier-grade NAT",
            "http://0.0.0.0/|unspecified",
            "http://0.1.2.3/|unspecified",
            "http://224.0.0.1/|multicast",
            "http://[ff02::1]/|multicast",
            "http://255.255.255.255/|broadcast",
            "http://[::ffff:10.0.0.1]/|private (10/8)",
            "http://169.254.169.254/latest/meta-data|metadata",
            "http://[fd00:ec2::254]/|metadata",
            "http://metadata.google.internal/computeMetadata/v1/|metadata",
            "http://localhost:8080/|loopback",
            "http://api.localhost/|loopback",
            "ftp://example.com/|http or https",
            "file:///etc/passwd|http or https",
            "http://user:pw@example.com/|credentials",
            "http:///nohost|host"})
    void refusesEachClassOfInternalTarget(String url, String reason) {
        assertThat(strict.check(url)).isNotNull().contains(reason);
        assertThat(strict.resolve(url)).isInstanceOf(WebhookTargetPolicy.Resolution.Refused.class);
    }

    @ParameterizedTest
    @ValueSource(strings = {"https://example.com/hook", "http://93.184.216.34/x", "https://[2606:4700::1111]/", "http://172.32.0.1/",
            "http://100.128.0.1/", "http://11.0.0.1/"})
    void acceptsPublicTargetsAtSubmitWithoutDns(String url) {
        assertThat(strict.check(url)).isNull();
    }

    @Test
    void allowlistAdmitsHostsAddressesAndCidrs() {
        var p = new WebhookTargetPolicy(false, List.of("127.0.0.1", "10.20.0.0/16", "receiver.internal", "fd00:1::/32"));
        assertThat(p.check("http://127.0.0.1:9999/h")).isNull();
        assertThat(p.check("http://127.0.0.2/h")).contains("loopback");
        assertThat(p.check("http://10.20.5.5/h")).isNull();
        assertThat(p.check("http://10.21.5.5/h")).contains("private");
        assertThat(p.check("http://[fd00:1::5]/h")).isNull();
        assertThat(p.check("http://receiver.internal/h")).isNull();
        assertThat(p.resolve("http://127.0.0.1:9999/h")).isInstanceOf(WebhookTargetPolicy.Resolution.Resolved.class);
    }

    @Test
    void allowPrivateAdmitsPrivateButNeverMetadata() {
        var p = new WebhookTargetPolicy(true, List.of());
        assertThat(p.check("http://127.0.0.1/")).isNull();
        assertThat(p.check("http://192.168.0.10/")).isNull();
        assertThat(p.check("http://169.254.169.254/")).contains("metadata");
        assertThat(p.check("http://metadata.google.internal/")).contains("metadata");
    }

    @Test
    void resolvedAddressesAreCheckedAgainAtDelivery() throws Exception {
        // a name that is not an IP literal and not "localhost", resolving (via /etc/hosts) to a non-public address
        String name = InetAddress.getLocalHost().getHostName();
        InetAddress[] all = InetAddress.getAllByName(name);
        assumeThat(AddressRules.nonPublicReason(all[0])).isNotNull();
        assumeThat(AddressRules.isLocalName(name)).isFalse();
        assertThat(strict.check("http://" + name + "/hook")).isNull(); // nothing to see without DNS
        assertThat(strict.resolve("http://" + name + "/hook"))
                .isInstanceOfSatisfying(WebhookTargetPolicy.Resolution.Refused.class, r -> assertThat(r.reason()).contains("resolves to"));
    }

    @Test
    void unresolvableHostIsTransientNotRefused() {
        assertThat(strict.resolve("http://no-such-host.invalid/hook")).isInstanceOf(WebhookTargetPolicy.Resolution.Unresolvable.class);
    }
}
