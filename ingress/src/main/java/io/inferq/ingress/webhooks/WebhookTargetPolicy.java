package io.inferq.ingress.webhooks;

import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Decides which URLs a webhook may target, against server-side request forgery.
 *
 * <p>Only {@code http} and {@code https}. Unless {@code allowPrivateTargets}, refused: loopback, private
 * (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, fe80::/10), carrier-grade NAT (100.64/10),
 * 0.0.0.0/8, multicast, reserved, and {@code localhost} names. Cloud metadata endpoints (169.254.169.254,
 * fd00:ec2::254, {@code metadata.google.internal}) are refused even when private targets are allowed. An
 * allowlist entry (host name, IP or CIDR) admits a trusted internal receiver.
 *
 * <p>The check runs twice: {@link #check(String)} at submit (no DNS: literal addresses and names that can only be
 * internal; safe on an event loop), and {@link #resolve(String)} at every delivery attempt, which resolves the
 * host, checks <em>every</em> address it resolves to, and returns the one to connect to — the attempt then
 * connects to that checked address (with the original Host header and TLS server name), so a DNS answer that
 * changes between check and connect (rebinding) cannot redirect the request. Immutable and thread-safe.
 */
public final class WebhookTargetPolicy {
    private final boolean allowPrivateTargets;
    private final Set<String> allowedHosts;
    private final List<AddressRules.Cidr> allowedNets;

    /**
     * @param allowPrivateTargets accept loopback/private/link-local targets (metadata stays refused)
     * @param allowlist           host names, IP literals or CIDRs that are always accepted
     * @throws IllegalArgumentException when an allowlist entry is malformed
     */
    public WebhookTargetPolicy(boolean allowPrivateTargets, List<String> allowlist) {
        this.allowPrivateTargets = allowPrivateTargets;
        List<AddressRules.Cidr> nets = new ArrayList<>();
        for (String entry : allowlist) {
            String problem = AddressRules.allowlistEntryProblem(entry);
            if (problem != null) {
                throw new IllegalArgumentException("webhooks.allow-private-targets: " + problem);
            }
            if (entry.contains("/")) {
                nets.add(AddressRules.Cidr.parse(entry.trim()));
            } else {
                InetAddress lit = AddressRules.literal(entry.trim());
                if (lit != null) {
                    nets.add(new AddressRules.Cidr(lit.getAddress(), lit.getAddress().length * 8));
                }
            }
        }
        this.allowedNets = List.copyOf(nets);
        this.allowedHosts = allowlist.stream().filter(e -> !e.contains("/") && AddressRules.literal(e.trim()) == null)
                .map(e -> AddressRules.normalHost(e.trim())).collect(Collectors.toUnmodifiableSet());
    }

    public static WebhookTargetPolicy of(WebhookSettings settings) {
        return new WebhookTargetPolicy(settings.allowPrivateTargets(), settings.allowlist());
    }

    /**
     * The submit-time check: syntax, scheme, and the host when it is an IP literal or a name that can only be
     * internal. Does no DNS lookup, so it may run on an event loop; {@link #resolve} repeats the check after
     * resolution at delivery.
     *
     * @return null when acceptable, else a message for the user (for a {@code 400 invalid_webhook})
     */
    public String check(String url) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException | NullPointerException e) {
            return "'webhook' is not a valid URL";
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            return "'webhook' must use http or https";
        }
        String host = uri.getHost();
        if (host == null || host.isEmpty()) {
            return "'webhook' must name a host";
        }
        if (uri.getRawUserInfo() != null) {
            return "'webhook' must not carry credentials in the URL";
        }
        if (allowedHosts.contains(AddressRules.normalHost(host))) {
            return null;
        }
        InetAddress literal = AddressRules.literal(host);
        if (literal != null) {
            return addressProblem(host, literal);
        }
        if (AddressRules.isMetadataHost(host)) {
            return "'webhook' host " + host + " is a cloud metadata endpoint";
        }
        if (!allowPrivateTargets && AddressRules.isLocalName(host)) {
            return "'webhook' host " + host + " is this machine (loopback); add it to webhooks.allow-private-targets to allow it";
        }
        return null;
    }

    /**
     * The delivery-time check: {@link #check}, then DNS resolution and a check of every resolved address.
     * <b>Blocking</b> (DNS): call on a worker thread, never on an event loop.
     *
     * @return the address to connect to, or why the target is refused or cannot be resolved
     */
    public Resolution resolve(String url) {
        String problem = check(url);
        if (problem != null) {
            return new Resolution.Refused(problem);
        }
        String host = URI.create(url).getHost();
        InetAddress[] all;
        try {
            InetAddress literal = AddressRules.literal(host);
            all = literal != null ? new InetAddress[] {literal} : InetAddress.getAllByName(AddressRules.normalHost(host));
        } catch (UnknownHostException e) {
            return new Resolution.Unresolvable("cannot resolve host " + host);
        }
        if (allowedHosts.contains(AddressRules.normalHost(host))) {
            return new Resolution.Resolved(all[0]);
        }
        for (InetAddress a : all) {
            String p = addressProblem(host, a);
            if (p != null) {
                return new Resolution.Refused(p);
            }
        }
        return new Resolution.Resolved(all[0]);
    }

    /** Outcome of {@link #resolve}. */
    public sealed interface Resolution {
        /** The target is acceptable; connect to {@code address}. */
        record Resolved(InetAddress address) implements Resolution {
        }

        /** The target is forbidden: do not retry. */
        record Refused(String reason) implements Resolution {
        }

        /** DNS gave no answer: a transient failure, retried on the schedule. */
        record Unresolvable(String reason) implements Resolution {
        }
    }

    private String addressProblem(String host, InetAddress a) {
        if (allowedNets.stream().anyMatch(n -> n.contains(a))) {
            return null;
        }
        if (AddressRules.isMetadata(a)) {
            return "'webhook' host " + host + " is a cloud metadata endpoint (" + a.getHostAddress() + ")";
        }
        if (allowPrivateTargets) {
            return null;
        }
        String reason = AddressRules.nonPublicReason(a);
        if (reason != null) {
            return "'webhook' host " + host + " resolves to " + reason + " (" + a.getHostAddress()
                    + "); add it to webhooks.allow-private-targets to allow a trusted internal receiver";
        }
        return null;
    }
}
